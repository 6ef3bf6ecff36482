"""Speech for the embedded corpus: espeak-ng with varied voices, rates, pitch and noise, at 16 kHz.

Per utterance (all drawn from the corpus seed and the utterance, so independent of sizes and order):

- a voice variant of the language's espeak-ng voice (``de+m3``; m1-m7, f1-f4), which is also the
  speaker (``de-m3``);
- a rate of 130-190 words per minute and a pitch of 30-70;
- additive white Gaussian noise at an SNR of 15-30 dB (relative to the power of the whole utterance).

A noise-only clip (test set ``test_noise``) is a test utterance's noise without its speech: the same
length and noise level, another noise draw. Its transcript is :data:`NO_SPEECH`, a Kaldi-style noise
marker that the scoring normalisers remove, so its reference is empty when scored.

What espeak-ng reads: the text itself for alphabetic languages; pinyin with tone digits for Mandarin,
read by ``cmn-latn-pinyin`` (the ``cmn`` voice would read the digits aloud); kana for Japanese (the
``ja`` voice reads kana only). Both come from the readings the language modules keep next to their
words, with pypinyin and pykakasi for anything without one.

espeak-ng writes 22.05 kHz; the audio is resampled to 16 kHz (polyphase, scipy) and written as 16-bit
mono WAV. The WAV's comment holds a hash of everything that made it (text, voice, rate, pitch, noise),
so a re-run keeps an existing file exactly when it would write the same one. Files are written to a
temporary name and renamed (:mod:`part.fileio`): an interrupted run never leaves a half-written WAV.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import random
import struct
import subprocess
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Set, Tuple

import numpy as np

from part.data.datadir import Utterance
from part.data.embedded.lang import Sentence
from part.data.languages import get_language
from part.fileio import atomic_path

SAMPLE_RATE = 16000
VARIANTS = tuple([f"m{i}" for i in range(1, 8)] + [f"f{i}" for i in range(1, 5)])
RATE_RANGE = (130, 190)
PITCH_RANGE = (30, 70)
SNR_RANGE_DB = (15.0, 30.0)
NO_SPEECH = "[noise]"
# Bump when the synthesis changes in a way that should invalidate existing WAVs.
SYNTH_VERSION = 1
ESPEAK = os.environ.get("ESPEAK_NG", "espeak-ng")


class SynthesisError(Exception):
    """espeak-ng is missing or failed on an utterance."""


@dataclass(frozen=True)
class SpeechPlan:
    """How one utterance is synthesised (voice, rate, pitch, noise) and where its WAV goes; its data-dir
    record is :meth:`record`."""

    utt: str  # <spk>-<tuple id>
    spk: str  # <lang>-<variant>
    lang: str
    split: str
    tuple_id: str
    text: str  # the transcript, in the language's normal script
    say: str  # what espeak-ng reads
    voice: str  # espeak-ng voice with variant, e.g. de+m3
    rate: int
    pitch: int
    snr_db: float
    noise_seed: int
    wav: str  # path relative to the output root
    speech: bool = True  # False: the noise alone (a noise-only clip)

    def spec_hash(self) -> str:
        spec = [SYNTH_VERSION, SAMPLE_RATE, self.say, self.voice, self.rate, self.pitch, self.snr_db, self.noise_seed]
        if not self.speech:  # appended only here: the hashes of existing speech WAVs stay valid
            spec.append("noise only")
        return hashlib.sha1(json.dumps(spec, ensure_ascii=False).encode("utf-8")).hexdigest()

    def as_json(self) -> dict:
        return asdict(self)

    def record(self, seconds: float, translations: Dict[str, str]) -> Utterance:
        """The utterance as a data dir holds it (the record every corpus writes)."""
        return Utterance(self.utt, self.spk, self.lang, self.text, self.wav, translations=translations,
                         duration=seconds)


# ---- what espeak-ng reads -------------------------------------------------------------------------
_ZH_PUNCT = {"。": ".", "？": "?", "，": ",", "！": "!"}


@lru_cache(maxsize=4096)
def _pinyin(text: str) -> str:
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(_ZH_PUNCT.get(s, s) for s in syllables)


@lru_cache(maxsize=4096)
def _kana(text: str) -> str:
    return "".join(item["hira"] for item in _kakasi().convert(text))


@lru_cache(maxsize=1)
def _kakasi():
    import pykakasi

    return pykakasi.kakasi()


def _is_kana(text: str) -> bool:
    """Only hiragana, katakana, the long-vowel mark and Japanese punctuation."""
    return all("\u3040" <= ch <= "\u30ff" or ch in "。、？！「」ー・" for ch in text)


def speakable(sentence: Sentence) -> str:
    """The string espeak-ng is given for a sentence (see the module doc)."""
    if sentence.lang == "zh":
        parts = [s.say if s.say is not None else _pinyin(s.text) for s in sentence.segments] \
            if sentence.segments else [_pinyin(sentence.text)]
        return " ".join(_ZH_PUNCT.get(p, p) for p in parts)
    if sentence.lang == "ja":
        parts = [s.say if s.say is not None else s.text if _is_kana(s.text) else _kana(s.text)
                 for s in sentence.segments] \
            if sentence.segments else [_kana(sentence.text)]
        return "".join(parts)
    return sentence.text


def plan_utterance(sentence: Sentence, split: str, tuple_id: str, seed: int) -> SpeechPlan:
    """Draw the voice of one utterance from (seed, language, tuple) and name it."""
    lang = sentence.lang
    rng = random.Random(f"{seed}/{lang}/{tuple_id}")
    variant = rng.choice(VARIANTS)
    rate = rng.randint(*RATE_RANGE)
    pitch = rng.randint(*PITCH_RANGE)
    snr_db = round(rng.uniform(*SNR_RANGE_DB), 1)
    noise_seed = rng.getrandbits(63)
    spk = f"{lang}-{variant}"
    utt = f"{spk}-{tuple_id}"
    voice = get_language(lang).espeak_voice
    if not voice:
        raise SynthesisError(f"language '{lang}' has no espeak-ng voice in part/data/languages.py")
    return SpeechPlan(utt=utt, spk=spk, lang=lang, split=split, tuple_id=tuple_id, text=sentence.text,
                      say=speakable(sentence), voice=f"{voice}+{variant}", rate=rate, pitch=pitch, snr_db=snr_db,
                      noise_seed=noise_seed, wav=f"downloads/embedded/wav/{split}/{utt}.wav")


def plan_noise_clip(sentence: Sentence, split: str, tuple_id: str, seed: int) -> SpeechPlan:
    """A noise-only clip with the length and noise level of the utterance of ``sentence`` (as
    :func:`plan_utterance` voices it) and its own noise draw; speaker ``<lang>-noise``."""
    voiced = plan_utterance(sentence, split, tuple_id, seed)
    spk = f"{voiced.lang}-noise"
    utt = f"{spk}-{tuple_id}"
    noise_seed = random.Random(f"{seed}/{voiced.lang}/{tuple_id}/noise only").getrandbits(63)
    return replace(voiced, utt=utt, spk=spk, text=NO_SPEECH, noise_seed=noise_seed, speech=False,
                   wav=f"downloads/embedded/wav/{split}/{utt}.wav")


# ---- audio ----------------------------------------------------------------------------------------
def _parse_wav(data: bytes) -> Tuple[np.ndarray, int]:
    """Samples (float32 in [-1, 1]) and rate of espeak-ng's --stdout WAV (its sizes are placeholders)."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SynthesisError("espeak-ng did not write a WAV file")
    pos, rate = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if chunk == b"fmt ":
            channels, rate, _, _, bits = struct.unpack("<HIIHH", data[pos + 10:pos + 24])
            if channels != 1 or bits != 16:
                raise SynthesisError(f"unexpected espeak-ng output: {channels} channels, {bits} bits")
        elif chunk == b"data":
            payload = data[pos + 8:]
            payload = payload[:len(payload) // 2 * 2]
            return np.frombuffer(payload, dtype="<i2").astype(np.float32) / 32768.0, rate
        pos += 8 + size + (size & 1)
    raise SynthesisError("espeak-ng's WAV has no data")


def espeak(text: str, voice: str, rate: int, pitch: int) -> Tuple[np.ndarray, int]:
    """Run espeak-ng on one sentence (given on stdin, UTF-8) and return (samples, sample rate)."""
    cmd = [ESPEAK, "-v", voice, "-s", str(rate), "-p", str(pitch), "-b", "1", "--stdout"]
    try:
        proc = subprocess.run(cmd, input=text.encode("utf-8"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              check=False)
    except FileNotFoundError as err:
        raise SynthesisError(f"{ESPEAK} not found: install it (apt-get install espeak-ng, or tools/install.sh)") \
            from err
    if proc.returncode != 0:
        raise SynthesisError(f"{' '.join(cmd)} failed ({proc.returncode}) on {text!r}: "
                             f"{proc.stderr.decode('utf-8', 'replace').strip()}")
    return _parse_wav(proc.stdout)


def resample(samples: np.ndarray, rate: int, new_rate: int = SAMPLE_RATE) -> np.ndarray:
    if rate == new_rate:
        return samples
    from scipy.signal import resample_poly

    g = math.gcd(rate, new_rate)
    return resample_poly(samples, new_rate // g, rate // g).astype(np.float32)


def noise_for(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """White Gaussian noise as long as ``samples``, ``snr_db`` below their mean power."""
    power = float(np.mean(samples.astype(np.float64) ** 2)) if samples.size else 0.0
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(samples.shape[0]) * math.sqrt(max(power, 1e-10) / 10 ** (snr_db / 10))
            ).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """``samples`` with :func:`noise_for` added; clipped to [-1, 1)."""
    return np.clip(samples + noise_for(samples, snr_db, seed), -1.0, 32767 / 32768)


def render(utt: SpeechPlan) -> np.ndarray:
    """The 16 kHz samples of one utterance (of its noise alone for a noise-only clip)."""
    samples, rate = espeak(utt.say, utt.voice, utt.rate, utt.pitch)
    if samples.size == 0:
        raise SynthesisError(f"espeak-ng produced no audio for {utt.utt}: {utt.say!r}")
    samples = resample(samples, rate)
    if not utt.speech:
        return np.clip(noise_for(samples, utt.snr_db, utt.noise_seed), -1.0, 32767 / 32768)
    return add_noise(samples, utt.snr_db, utt.noise_seed)


def wav_is_valid(path: Path, spec_hash: str) -> bool:
    """True if ``path`` is a readable 16 kHz mono WAV that was made from the same spec."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            return f.samplerate == SAMPLE_RATE and f.channels == 1 and f.frames > 0 and f.comment == spec_hash
    except Exception:  # noqa: BLE001 - any unreadable file is simply made again
        return False


def write_wav(path: Path, samples: np.ndarray, comment: str) -> None:
    """Write a 16-bit WAV atomically. Not fsynced: a WAV is reused only after :func:`wav_is_valid`
    checked it, so one lost in a power cut is simply made again."""
    import soundfile as sf

    with atomic_path(path, durable=False) as tmp:
        with sf.SoundFile(str(tmp), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV") as f:
            f.comment = comment
            f.write(samples)


def wav_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def synthesise_one(job: Tuple[SpeechPlan, str]) -> Tuple[str, float, bool]:
    """Make one WAV unless a valid one exists. Returns (utt, seconds, skipped)."""
    utt, root = job
    path = Path(root) / utt.wav
    spec = utt.spec_hash()
    if wav_is_valid(path, spec):
        return utt.utt, wav_seconds(path), True
    samples = render(utt)
    write_wav(path, samples, spec)
    return utt.utt, samples.shape[0] / SAMPLE_RATE, False


def synthesise(utterances: Iterable[SpeechPlan], root: Path, nj: int = 2, desc: str = "synthesis",
               progress: bool = True) -> Tuple[Dict[str, float], Set[str]]:
    """Synthesise every utterance with ``nj`` processes (WAVs that are already valid are kept).

    Returns ``({utt: seconds of audio}, {utts whose existing WAV was kept})``.
    """
    from tqdm import tqdm

    jobs = [(u, str(root)) for u in utterances]
    seconds: Dict[str, float] = {}
    skipped: Set[str] = set()
    bar = tqdm(total=len(jobs), desc=desc, unit="utt", disable=not progress, dynamic_ncols=True)
    pool = None
    try:
        if nj <= 1 or len(jobs) <= 1:
            results = map(synthesise_one, jobs)
        else:
            import multiprocessing

            import scipy.signal  # noqa: F401 - imported once here, before the workers fork

            pool = multiprocessing.get_context("fork").Pool(min(nj, len(jobs)))
            results = pool.imap_unordered(synthesise_one, jobs, chunksize=8)
        for utt, secs, was_skipped in results:
            seconds[utt] = secs
            if was_skipped:
                skipped.add(utt)
            bar.update(1)
        if pool is not None:
            pool.close()
            pool.join()
    except BaseException:
        if pool is not None:
            pool.terminate()
        raise
    finally:
        bar.close()
    return seconds, skipped


def check_espeak(langs: List[str]) -> None:
    """Fail early, with what to do, if espeak-ng or the voice of one of ``langs`` is missing."""
    for lang in langs:
        voice = get_language(lang).espeak_voice
        try:
            proc = subprocess.run([ESPEAK, "-q", "-v", voice, "a"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except FileNotFoundError as err:
            raise SynthesisError(f"{ESPEAK} not found: install it (apt-get install espeak-ng, or tools/install.sh)") \
                from err
        if proc.returncode != 0:
            raise SynthesisError(f"espeak-ng has no voice '{voice}' for {lang} "
                                 f"({proc.stderr.decode('utf-8', 'replace').strip()}); see `{ESPEAK} --voices`")
