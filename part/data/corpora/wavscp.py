"""``wav.scp`` entries for corpus audio: a plain path when the file already is what the recipes read
(16 kHz mono, decodable by soundfile), otherwise a pipe that makes it so.

The recipes read a ``wav.scp`` value with :func:`part.data.audio.read_audio`, which expects 16 kHz
audio. Corpora ship other rates (CommonVoice: 48 kHz mp3), so an entry is one of

- ``/abs/path/clip.wav``: the file is 16 kHz mono (probed from its header with soundfile);
- ``sox -V1 -D /abs/in.flac -t wav -r 16000 -c 1 -b 16 -e signed-integer - |``: formats sox reads itself
  (wav, flac) at another rate or with several channels;
- ``<python> -m part.data.corpora.wavscp /abs/in.mp3 | sox -V1 -D -t wav - -t wav -r 16000 ... - |``:
  formats this machine's sox cannot decode (mp3, opus) are decoded by soundfile first.

``--audio_format`` of every corpus module picks: ``auto`` (the rule above, the default), ``path`` (always
the path: fast to read, but readers must then resample) or ``pipe`` (always a pipe).

Command line (what the pipes run): ``python -m part.data.corpora.wavscp AUDIO`` writes the audio as a
float WAV at its own sample rate on stdout.
"""
from __future__ import annotations

import argparse
import io
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence, Tuple

import soundfile

from part.data.corpora.errors import CorpusError

AUDIO_FORMATS = ("auto", "path", "pipe")
SAMPLE_RATE = 16000
# Suffixes that sox decodes itself (no libmad/libopus in Debian's sox build here).
SOX_NATIVE_SUFFIXES = (".wav", ".flac")


class UnreadableAudio(Exception):
    """The file exists but soundfile cannot decode it (corrupt, empty or not audio)."""


class WavScpBuilder:
    """Turns audio file paths into ``wav.scp`` values (see the module docstring).

    Args:
        audio_format: ``auto``, ``path`` or ``pipe``.
        sample_rate: the rate pipes produce and ``auto`` accepts as is.
        python: the interpreter the decoding pipes call (default: this one, so the pipe finds the
            ``part`` package and soundfile).
    """

    def __init__(self, audio_format: str = "auto", sample_rate: int = SAMPLE_RATE, python: Optional[str] = None):
        if audio_format not in AUDIO_FORMATS:
            raise CorpusError(f"--audio_format must be one of {', '.join(AUDIO_FORMATS)}, not '{audio_format}'")
        self.audio_format = audio_format
        self.sample_rate = sample_rate
        self.python = python or os.environ.get("PART_PYTHON") or sys.executable
        self._sox_checked = False

    def _check_sox(self) -> None:
        if not self._sox_checked:
            if shutil.which("sox") is None:
                raise CorpusError("sox is not installed, but the audio needs a conversion pipe in wav.scp "
                                  "(install it with tools/install.sh or `apt-get install sox`), or prepare with "
                                  "--audio_format path and resample when reading")
            self._sox_checked = True

    def probe(self, path: Path) -> Tuple[int, int]:
        """``(sample_rate, channels)`` from the file's header; :class:`UnreadableAudio` if it has none."""
        try:
            info = soundfile.info(str(path))
        except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
            raise UnreadableAudio(str(err).strip().replace("\n", " ")) from None
        if info.frames == 0:
            raise UnreadableAudio("no samples")
        return int(info.samplerate), int(info.channels)

    def entry(self, path: Path) -> str:
        """The ``wav.scp`` value for ``path`` (made absolute). ``auto`` opens the file's header and
        raises :class:`UnreadableAudio` for a file soundfile cannot decode."""
        path = Path(os.path.abspath(path))
        if self.audio_format == "path":
            return str(path)
        if self.audio_format == "auto":
            rate, channels = self.probe(path)
            if rate == self.sample_rate and channels == 1 and not any(c.isspace() for c in str(path)):
                return str(path)
        return self.pipe(path)

    def pipe(self, path: Path) -> str:
        """A command that writes ``path`` as 16-bit mono wav at :attr:`sample_rate` on stdout."""
        self._check_sox()
        convert = f"-t wav -r {self.sample_rate} -c 1 -b 16 -e signed-integer -"
        quoted = shlex.quote(str(path))
        if path.suffix.lower() in SOX_NATIVE_SUFFIXES:
            return f"sox -V1 -D {quoted} {convert} |"
        decode = f"{shlex.quote(self.python)} -m part.data.corpora.wavscp {quoted}"
        return f"{decode} | sox -V1 -D -t wav - {convert} |"


def decode_to_wav(path: str) -> bytes:
    """The audio of ``path`` (anything soundfile reads) as a float32 WAV at its own sample rate."""
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    buffer = io.BytesIO()
    soundfile.write(buffer, data, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.corpora.wavscp",
        description="Decode an audio file (mp3, opus, ... anything soundfile reads) and write it as a float "
                    "WAV at its own sample rate on stdout; wav.scp pipes use it in front of sox.")
    parser.add_argument("audio", help="the audio file")
    args = parser.parse_args(argv)
    try:
        data = decode_to_wav(args.audio)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
        print(f"part.data.corpora.wavscp: cannot decode '{args.audio}': {err}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
