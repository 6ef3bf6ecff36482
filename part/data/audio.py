"""Reading the audio that a ``wav.scp`` entry names.

A ``wav.scp`` value is either a path (wav, flac, mp3, ogg/opus, anything libsndfile >= 1.1 reads) or a
shell command that writes audio to stdout, written with a trailing pipe (``sox in.sph -t wav - |``).
Relative paths are relative to the current directory, which for every recipe command is the recipe
directory (see docs/contracts.md).

Every function returns mono float32 samples in [-1, 1]: multi-channel audio keeps its first channel
(the validator warns about it), and audio whose sample rate differs from the one asked for is either
rejected (``policy="reject"``, the default) or resampled on the fly (``policy="resample"``).
Errors are :class:`AudioError` and name the utterance, the audio, what went wrong and what to do.

Example::

    samples = read_audio("wav/spk1-utt1.flac", sample_rate=16000, utt_id="spk1-utt1")
    part = read_audio("sox rec.sph -t wav - |", segment=(1.5, 3.25), utt_id="rec-000150-000325")
"""
from __future__ import annotations

import io
import math
import os
import re
import subprocess
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import soundfile

# What to do when the audio's sample rate is not the one asked for.
SAMPLE_RATE_POLICIES = ("reject", "resample")
# How far a segment may end after its recording and still be that recording's (rounding of times in
# index files, codec padding); further out, its transcript describes audio that is not there.
SEGMENT_END_TOLERANCE_S = 0.1

Segment = Tuple[float, float]  # (start_s, end_s) in seconds; end_s <= 0 means "to the end"


class AudioError(Exception):
    """Audio that cannot be used. The message names the utterance and says what to do."""

    def __init__(self, problem: str, fix: Optional[str] = None, utt_id: Optional[str] = None):
        self.problem = problem
        self.fix = fix
        self.utt_id = utt_id
        who = f"utterance '{utt_id}': " if utt_id else ""
        super().__init__(who + problem + (f"; {fix}" if fix else ""))


@dataclass(frozen=True)
class AudioInfo:
    """What the header (or, for a pipe, the decoded stream) says about one recording."""

    sample_rate: int
    num_channels: int
    num_frames: int  # samples per channel, at ``sample_rate``
    format: str = ""

    @property
    def duration(self) -> float:
        return self.num_frames / self.sample_rate if self.sample_rate else 0.0


def is_pipe(entry: str) -> bool:
    """True for a ``wav.scp`` value that is a command (``cmd |``) rather than a path."""
    return entry.rstrip().endswith("|")


def run_pipe(entry: str, utt_id: Optional[str] = None) -> bytes:
    """Run the command of a ``cmd |`` entry through bash (with pipefail) and return its stdout."""
    command = entry.rstrip()[:-1].strip()
    if not command:
        raise AudioError(f"the wav.scp entry '{entry}' is a pipe without a command", "write `cmd |`", utt_id)
    proc = subprocess.run(
        ["bash", "-c", "set -o pipefail; " + command], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", errors="replace").strip()
        tail = " | ".join(stderr.splitlines()[-3:]) or "no message"
        raise AudioError(
            f"the command '{command}' failed with exit status {proc.returncode} ({tail})",
            "run it by hand to see why",
            utt_id,
        )
    if not proc.stdout:
        raise AudioError(
            f"the command '{command}' wrote nothing on stdout",
            "it must write audio (e.g. `sox in.sph -t wav -`)",
            utt_id,
        )
    return proc.stdout


def _open_target(entry: str, utt_id: Optional[str]):
    """The thing soundfile should open: a path, or the bytes a pipe produced. Checks paths exist."""
    if is_pipe(entry):
        return io.BytesIO(run_pipe(entry, utt_id)), entry.rstrip()[:-1].strip()
    path = entry.strip()
    if not os.path.exists(path):
        where = "" if os.path.isabs(path) else f" (relative paths are read from {os.getcwd()})"
        raise AudioError(f"audio file '{path}' not found{where}", "fix the path in wav.scp or restore the file", utt_id)
    if os.path.isdir(path):
        raise AudioError(f"'{path}' is a directory, not an audio file", "fix the path in wav.scp", utt_id)
    if os.path.getsize(path) == 0:
        raise AudioError(f"audio file '{path}' is empty (0 bytes)", "re-create it or remove the utterance", utt_id)
    return path, path


def _soundfile_error(utt_id: Optional[str], what: str, err: Exception) -> AudioError:
    reason = str(err).strip().replace("\n", " ")
    reason = re.sub(r"^Error opening .*?: ", "", reason).rstrip(".")  # libsndfile repeats the path
    return AudioError(
        f"cannot decode '{what}' ({reason}): the file is corrupt or not audio",
        "check it with `soxi`, re-encode it (e.g. as 16 kHz mono wav or flac) or remove the utterance",
        utt_id,
    )


def audio_info(entry: str, utt_id: Optional[str] = None) -> AudioInfo:
    """Sample rate, channels and length of a ``wav.scp`` entry.

    A path is probed through its header only (fast); a pipe has to be run and decoded.
    """
    target, what = _open_target(entry, utt_id)
    try:
        if isinstance(target, io.BytesIO):
            data, sample_rate = soundfile.read(target, dtype="float32", always_2d=True)
            return AudioInfo(sample_rate, data.shape[1], data.shape[0], "pipe")
        info = soundfile.info(target)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise _soundfile_error(utt_id, what, err) from None
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Polyphase resampling (scipy), float32 in and out; exact ratio from the two integer rates."""
    if orig_rate == new_rate:
        return samples
    from scipy.signal import resample_poly

    divisor = math.gcd(int(orig_rate), int(new_rate))
    out = resample_poly(samples.astype(np.float64), new_rate // divisor, orig_rate // divisor)
    return out.astype(np.float32)


def segment_bounds(segment: Segment, rate: int, num_frames: int, utt_id: Optional[str] = None,
                   what: str = "the recording") -> Tuple[int, int]:
    """Sample range [start, stop) of a (start_s, end_s) segment in a recording of ``num_frames`` samples at
    ``rate``; ``end_s <= 0`` means the recording's end. An end up to :data:`SEGMENT_END_TOLERANCE_S` past
    the recording is cut there. Raises :class:`AudioError` for a segment that is empty, starts after
    the end, or ends clearly past it (cutting it would keep a transcript of audio that is not there)."""
    start_s, end_s = float(segment[0]), float(segment[1])
    duration = num_frames / rate
    start = int(round(start_s * rate))
    if start >= num_frames:
        raise AudioError(
            f"segment starts at {start_s:.3f} s but '{what}' lasts only {duration:.3f} s",
            "fix the segments file",
            utt_id,
        )
    if end_s > duration + SEGMENT_END_TOLERANCE_S:
        raise AudioError(
            f"segment {start_s:.3f}-{end_s:.3f} s ends {end_s - duration:.3f} s after the end of '{what}' "
            f"({duration:.3f} s)",
            "fix the segment's times or drop the utterance (stage 1 drops such segments when it knows the "
            "recording's duration)",
            utt_id,
        )
    stop = num_frames if end_s <= 0 else min(int(round(end_s * rate)), num_frames)
    if stop <= start:
        raise AudioError(f"segment {start_s:.3f}-{end_s:.3f} s of '{what}' is empty", "fix the segments file", utt_id)
    return start, stop


def read_audio_with_info(
    entry: str,
    segment: Optional[Segment] = None,
    sample_rate: Optional[int] = 16000,
    policy: str = "reject",
    utt_id: Optional[str] = None,
) -> Tuple[np.ndarray, AudioInfo]:
    """Like :func:`read_audio`, and also return the recording's native :class:`AudioInfo`; with
    ``sample_rate=None`` the samples stay at the recording's own rate (``info.sample_rate``)."""
    if policy not in SAMPLE_RATE_POLICIES:
        raise ValueError(f"policy must be one of {SAMPLE_RATE_POLICIES}, not '{policy}'")
    target, what = _open_target(entry, utt_id)
    try:
        if isinstance(target, io.BytesIO):
            data, rate = soundfile.read(target, dtype="float32", always_2d=True)
            info = AudioInfo(rate, data.shape[1], data.shape[0], "pipe")
            if info.num_frames and segment is not None:
                start, stop = segment_bounds(segment, rate, info.num_frames, utt_id, what)
                data = data[start:stop]
        else:
            with soundfile.SoundFile(target) as sound:
                info = AudioInfo(sound.samplerate, sound.channels, sound.frames, sound.format)
                start, stop = 0, info.num_frames
                if info.num_frames and segment is not None:
                    start, stop = segment_bounds(segment, info.sample_rate, info.num_frames, utt_id, what)
                    sound.seek(start)
                data = sound.read(stop - start, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise _soundfile_error(utt_id, what, err) from None
    if info.num_frames == 0 or data.shape[0] == 0:
        raise AudioError(f"'{what}' holds no audio (0 samples)", "re-create it or remove the utterance", utt_id)
    samples = np.ascontiguousarray(data[:, 0])
    if sample_rate is not None and info.sample_rate != sample_rate:
        if policy == "reject":
            raise AudioError(
                f"'{what}' has sample rate {info.sample_rate} Hz, expected {sample_rate} Hz (policy 'reject')",
                f"resample the corpus (e.g. `sox in.wav -r {sample_rate} out.wav`), or use --policy resample "
                "to resample when reading",
                utt_id,
            )
        samples = resample(samples, info.sample_rate, sample_rate)
    return samples, info


def read_audio(
    entry: str,
    segment: Optional[Segment] = None,
    sample_rate: int = 16000,
    policy: str = "reject",
    utt_id: Optional[str] = None,
) -> np.ndarray:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` for one ``wav.scp`` value.

    Args:
        entry: a ``wav.scp`` value: a path, or a shell command ending with ``|``.
        segment: ``(start_s, end_s)`` to cut from the recording (a ``segments`` line); ``end_s <= 0``
            reads to the end. An end up to ``SEGMENT_END_TOLERANCE_S`` past the recording is cut
            there; one further out raises :class:`AudioError`.
        sample_rate: the rate the caller wants.
        policy: ``"reject"`` raises :class:`AudioError` on another rate, ``"resample"`` resamples.
        utt_id: named in error messages.
    """
    return read_audio_with_info(entry, segment, sample_rate, policy, utt_id)[0]


class RecordingReader:
    """Reads the audio of utterances one after another. A pipe that holds several segments is run once
    for all of them while they come one after the other (as they do when utterance ids start with the
    recording's, the Kaldi convention), instead of once per segment."""

    def __init__(self, sample_rate: int = 16000, policy: str = "reject"):
        self.sample_rate, self.policy = sample_rate, policy
        self._pipe: Optional[Tuple[str, np.ndarray]] = None  # the last pipe entry and its whole audio

    def read(self, utt: str, entry: str, segment: Optional[Segment]) -> np.ndarray:
        if segment is None or not is_pipe(entry):
            return read_audio(entry, segment, self.sample_rate, self.policy, utt_id=utt)
        if self._pipe is None or self._pipe[0] != entry:
            self._pipe = (entry, read_audio(entry, None, self.sample_rate, self.policy, utt_id=utt))
        whole = self._pipe[1]
        start, stop = segment_bounds(segment, self.sample_rate, len(whole), utt, entry)
        return whole[start:stop]
