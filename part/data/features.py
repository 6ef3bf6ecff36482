"""Log-mel features: the one front end of stage 2's dumps, of on-the-fly training input and of decoding.

Two feature types, both of mono float samples in [-1, 1] at 16 kHz (or ``sample_rate``):

- ``fbank`` (default): Kaldi's ``compute-fbank-feats`` defaults but for the bin count (povey window,
  pre-emphasis 0.97, DC removal, snip edges) with dither 0 for determinism, on samples scaled to the
  int16 range as Kaldi reads them (torchaudio's Kaldi-compatible implementation). With 25 ms windows
  and a 10 ms shift at 16 kHz an utterance of N samples has ``1 + (N - 400) // 160`` frames.
- ``whisper``: Whisper's log-mel spectrogram as transformers' ``WhisperFeatureExtractor`` computes it
  (built locally, nothing downloaded; 80 mel bins up to large-v2, 128 for large-v3): 25 ms Hann windows
  every 10 ms, log10 mel clamped to 8 below the utterance's maximum and scaled as (x + 4) / 4. Unlike
  Whisper's own front end the audio is not padded to 30 s; N samples give ``N // 160`` frames.

Example::

    opts = FeatureOptions(num_mel_bins=80)
    feats = compute_features(samples, opts)      # (frames, 80) float32
    assert feats.shape[0] == num_frames(len(samples), opts)
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np

FEATURE_TYPES = ("fbank", "whisper")
FRAME_SHIFT_S = 0.01  # the default 10 ms shift, for durations computed from frame counts


@dataclass(frozen=True)
class FeatureOptions:
    num_mel_bins: int = 80
    frame_length: float = 25.0  # ms
    frame_shift: float = 10.0  # ms
    sample_rate: int = 16000
    policy: str = "reject"  # audio at another sample rate: reject, or resample when reading
    feature_type: str = "fbank"  # fbank (Kaldi) | whisper (Whisper's log-mel)

    @property
    def window_samples(self) -> int:
        return int(self.sample_rate * self.frame_length / 1000)

    @property
    def shift_samples(self) -> int:
        return int(self.sample_rate * self.frame_shift / 1000)

    def check(self) -> "FeatureOptions":
        """Raise ValueError for options no front end supports (Whisper's is fixed: 16 kHz, 25/10 ms, 80|128 bins)."""
        if self.feature_type not in FEATURE_TYPES:
            raise ValueError(f"feature_type must be one of {', '.join(FEATURE_TYPES)}, not '{self.feature_type}'")
        if self.feature_type == "whisper" and (
                self.sample_rate != 16000 or self.frame_length != 25.0 or self.frame_shift != 10.0
                or self.num_mel_bins not in (80, 128)):
            raise ValueError("feature_type whisper needs sample_rate 16000, frame_length 25, frame_shift 10 and "
                             f"num_mel_bins 80 or 128 (got {self.sample_rate}, {self.frame_length}, "
                             f"{self.frame_shift}, {self.num_mel_bins})")
        if self.num_mel_bins < 1 or self.frame_length <= 0 or self.frame_shift <= 0:
            raise ValueError(f"num_mel_bins, frame_length and frame_shift must be positive: {self}")
        return self

    @classmethod
    def from_conf(cls, conf: Mapping) -> "FeatureOptions":
        """From a config mapping (``feature_conf`` of a training config); unknown keys are an error."""
        unknown = set(conf) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown feature option(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        return cls(**conf).check()

    @classmethod
    def for_model(cls, config: Mapping) -> "FeatureOptions":
        """The front end a model was trained with: its ``feature_conf`` if the training config has one,
        else Whisper's log-mel for a Whisper encoder and Kaldi fbank otherwise, with ``input_size`` bins."""
        conf = dict(config.get("feature_conf") or {})
        conf.setdefault("feature_type", "whisper" if config.get("encoder") == "whisper" else "fbank")
        conf.setdefault("num_mel_bins", int(config.get("input_size") or 80))
        return cls.from_conf(conf)


def num_frames(num_samples: int, opts: FeatureOptions) -> int:
    """Frames of ``num_samples`` samples: Kaldi's snip-edges count, or Whisper's ``samples // shift``
    (its centred STFT drops the last frame); 0 when too short for one frame."""
    if opts.feature_type == "whisper":
        return num_samples // opts.shift_samples if num_samples > opts.window_samples // 2 else 0
    if num_samples < opts.window_samples:
        return 0
    return 1 + (num_samples - opts.window_samples) // opts.shift_samples


@functools.lru_cache(maxsize=2)
def _whisper_extractor(num_mel_bins: int):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=num_mel_bins, sampling_rate=16000, hop_length=160, n_fft=400)


def compute_whisper_logmel(samples: np.ndarray, num_mel_bins: int = 80) -> np.ndarray:
    """Whisper's log-mel spectrogram (frames x num_mel_bins, float32), not padded to 30 s."""
    out = _whisper_extractor(num_mel_bins)(np.asarray(samples, dtype=np.float32), sampling_rate=16000,
                                           padding="do_not_pad", truncation=False, return_tensors="np")
    return np.ascontiguousarray(out["input_features"][0].T, dtype=np.float32)


def compute_kaldi_fbank(samples: np.ndarray, opts: FeatureOptions) -> np.ndarray:
    """Kaldi-compatible log-mel fbank (frames x num_mel_bins, float32)."""
    import torch
    from torchaudio.compliance.kaldi import fbank

    waveform = torch.from_numpy(np.asarray(samples, dtype=np.float32) * 32768.0).unsqueeze(0)
    with torch.no_grad():
        feats = fbank(waveform, num_mel_bins=opts.num_mel_bins, frame_length=opts.frame_length,
                      frame_shift=opts.frame_shift, sample_frequency=opts.sample_rate, dither=0.0,
                      energy_floor=0.0)
    return feats.numpy().astype(np.float32, copy=False)


def compute_features(samples: np.ndarray, opts: FeatureOptions) -> np.ndarray:
    """The features of ``opts.feature_type`` (frames x num_mel_bins, float32) of mono samples in [-1, 1]."""
    if opts.feature_type == "whisper":
        return compute_whisper_logmel(samples, opts.num_mel_bins)
    return compute_kaldi_fbank(samples, opts)
