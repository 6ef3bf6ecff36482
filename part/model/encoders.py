"""Speech encoders: a registry of builders that all return a :class:`SpeechEncoder`.

An encoder maps log-mel features ``(B, T, F)`` to hidden states ``(B, T', D)``. It also exposes its
blocks in order (``blocks()``), so that a schedule can unfreeze "the last N layers", and optionally a
CTC head over the LLM's token vocabulary (used to pretrain the encoder and by the ``ctc_posterior``
adapter).

Register a new encoder with ``@register_encoder("name")`` on a function ``(input_size, **conf) ->
SpeechEncoder``.
"""
from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch import nn

ENCODERS: Dict[str, Callable[..., "SpeechEncoder"]] = {}


def register_encoder(name: str):
    def wrap(fn):
        ENCODERS[name] = fn
        return fn

    return wrap


@dataclass
class EncoderOutput:
    hidden: torch.Tensor  # (B, T', D)
    lengths: torch.Tensor  # (B,)
    ctc_logits: Optional[torch.Tensor] = None  # (B, T', V + 1), blank is the last index


class GlobalCMVN(nn.Module):
    """Global mean/variance normalisation from an ESPnet ``feats_stats.npz`` (count, sum, sum_square).

    The statistics are buffers, so they travel inside every checkpoint of the model.
    """

    def __init__(self, dim: int, stats_file: Optional[str] = None, eps: float = 1e-20):
        super().__init__()
        mean, std = torch.zeros(dim), torch.ones(dim)
        if stats_file:
            stats = np.load(stats_file)
            count = float(stats["count"])
            m = stats["sum"] / count
            var = np.maximum(stats["sum_square"] / count - m * m, eps)
            mean, std = torch.from_numpy(m).float(), torch.from_numpy(np.sqrt(var)).float()
            if mean.numel() != dim:
                raise ValueError(f"{stats_file}: statistics have dimension {mean.numel()}, features {dim}")
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats - self.mean) / self.std


class SpeechEncoder(nn.Module, abc.ABC):
    """Base class: subclasses implement ``encode`` and ``blocks``."""

    output_size: int

    def __init__(self):
        super().__init__()
        self.ctc_head: Optional[nn.Linear] = None

    @abc.abstractmethod
    def encode(self, feats: torch.Tensor, lengths: torch.Tensor):
        """``(B, T, F), (B,) -> (B, T', D), (B,)``"""

    @abc.abstractmethod
    def blocks(self) -> List[nn.Module]:
        """The encoder's layers in input-to-output order."""

    def tail_parameters(self) -> List[nn.Parameter]:
        """Parameters applied after the last block (final norm, CTC head): they train with the last N."""
        params = list(self.ctc_head.parameters()) if self.ctc_head is not None else []
        return params + [p for m in self.tail_modules() for p in m.parameters()]

    def tail_modules(self) -> List[nn.Module]:
        return []

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        hidden, out_lengths = self.encode(feats, lengths)
        logits = self.ctc_head(hidden) if self.ctc_head is not None else None
        return EncoderOutput(hidden, out_lengths, logits)

    def add_ctc_head(self, vocab_size: int) -> None:
        """A linear layer over ``vocab_size`` tokens plus a blank (the last index)."""
        self.ctc_head = nn.Linear(self.output_size, vocab_size + 1)


def low_frame_rate(feats: torch.Tensor, lengths: torch.Tensor, m: int, n: int):
    """Stack ``m`` consecutive frames every ``n`` frames (LFR, as SenseVoice/Paraformer encoders do).

    ``(B, T, F) -> (B, ceil(T / n), m * F)``; frames past each utterance's end must already be zero, so
    an utterance gives the same output alone or padded in a batch.
    """
    batch, frames, dim = feats.shape
    out_frames = -(-frames // n)
    pad = (out_frames - 1) * n + m - frames
    padded = torch.nn.functional.pad(feats, (0, 0, 0, max(pad, 0)))
    stacked = padded.unfold(1, m, n)[:, :out_frames]  # (B, T', F, m)
    stacked = stacked.permute(0, 1, 3, 2).reshape(batch, out_frames, m * dim)
    return stacked, torch.div(lengths + n - 1, n, rounding_mode="floor")


class ConformerSpeechEncoder(SpeechEncoder):
    """ESPnet's Conformer with global CMVN, optionally on low-frame-rate (stacked) features.

    ``lfr: [m, n]`` stacks m frames every n before the Conformer's input layer (use
    ``input_layer: linear`` with it): 7/6 gives 60 ms frames, as SenseVoice's encoder has, at a
    fraction of the cost of ESPnet's conv2d subsampling, which dominates a small Conformer's compute.
    """

    def __init__(self, input_size: int = 80, stats_file: Optional[str] = None, lfr: Optional[List[int]] = None,
                 specaug: Optional[dict] = None, **conformer_conf):
        super().__init__()
        from espnet2.asr.encoder.conformer_encoder import ConformerEncoder

        self.normalize = GlobalCMVN(input_size, stats_file)
        # SpecAugment (ESPnet's; training mode only), e.g. {num_freq_mask: 2, freq_mask_width_range: [0, 27],
        # num_time_mask: 2, time_mask_width_ratio_range: [0, 0.05]}.
        self.specaug = None
        if specaug:
            from espnet2.asr.specaug.specaug import SpecAug

            self.specaug = SpecAug(**specaug)
        self.lfr = tuple(lfr) if lfr else None
        if self.lfr and (len(self.lfr) != 2 or self.lfr[0] < self.lfr[1]):
            raise ValueError(f"encoder_conf.lfr must be [m, n] with m >= n, got {lfr}")
        conformer_input = input_size * self.lfr[0] if self.lfr else input_size
        self.conformer = ConformerEncoder(input_size=conformer_input, **conformer_conf)
        self.output_size = self.conformer.output_size()

    def encode(self, feats, lengths):
        # Padded frames are zero after normalisation (as ESPnet's GlobalMVN leaves them): the subsampling
        # (or frame stacking) at the end of an utterance then never sees -mean/std or whatever the batch
        # held there.
        padded = torch.arange(feats.size(1), device=feats.device)[None, :] >= lengths[:, None]
        normed = self.normalize(feats).masked_fill(padded[..., None], 0.0)
        if self.specaug is not None and self.training:
            normed, _ = self.specaug(normed, lengths)
        if self.lfr:
            normed, lengths = low_frame_rate(normed, lengths, *self.lfr)
        hidden, out_lengths, _ = self.conformer(normed, lengths)
        return hidden, out_lengths

    def blocks(self):
        return list(self.conformer.encoders)

    def tail_modules(self):
        norm = getattr(self.conformer, "after_norm", None)
        return [norm] if norm is not None else []


class WhisperSpeechEncoder(SpeechEncoder):
    """The encoder of a Hugging Face Whisper model, from a local directory or a config dict.

    Inputs must be Whisper log-mel features (stage 2 with ``--feature_type whisper``). Whisper's
    encoder expects a fixed window (30 s for the released models); shorter inputs are padded and the
    output is cut back to the frames that cover real audio.
    """

    def __init__(self, input_size: int = 80, path: Optional[str] = None, config: Optional[dict] = None):
        super().__init__()
        from transformers import WhisperConfig, WhisperModel
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        if path:
            if not Path(path, "config.json").is_file():
                raise FileNotFoundError(
                    f"Whisper encoder: no config.json in '{path}'. Point encoder_conf.path at a local "
                    "Hugging Face Whisper directory (e.g. a download of openai/whisper-large-v3)."
                )
            self.whisper = WhisperModel.from_pretrained(path).encoder
        else:
            self.whisper = WhisperEncoder(WhisperConfig(**(config or {})))
        cfg = self.whisper.config
        if cfg.num_mel_bins != input_size:
            raise ValueError(f"Whisper expects {cfg.num_mel_bins} mel bins, features have {input_size}")
        self.window = cfg.max_source_positions * 2  # input frames the encoder accepts
        self.output_size = cfg.d_model

    def encode(self, feats, lengths):
        if feats.size(1) > self.window:
            raise ValueError(f"utterance of {feats.size(1)} frames exceeds Whisper's {self.window}-frame window")
        padded = torch.nn.functional.pad(feats, (0, 0, 0, self.window - feats.size(1)))
        hidden = self.whisper(padded.transpose(1, 2)).last_hidden_state
        out_lengths = (lengths + 1) // 2
        return hidden[:, : int(out_lengths.max())], out_lengths

    def blocks(self):
        return list(self.whisper.layers)

    def tail_modules(self):
        return [self.whisper.layer_norm]


@register_encoder("conformer")
def build_conformer(input_size: int, **conf) -> SpeechEncoder:
    return ConformerSpeechEncoder(input_size=input_size, **conf)


@register_encoder("whisper")
def build_whisper(input_size: int, **conf) -> SpeechEncoder:
    return WhisperSpeechEncoder(input_size=input_size, **conf)


def build_encoder(name: str, input_size: int, conf: dict, ctc_vocab_size: Optional[int] = None) -> SpeechEncoder:
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder '{name}'; registered: {', '.join(sorted(ENCODERS))}")
    encoder = ENCODERS[name](input_size=input_size, **(conf or {}))
    if ctc_vocab_size:
        encoder.add_ctc_head(ctc_vocab_size)
    return encoder


def load_pretrained_encoder(encoder: SpeechEncoder, path: str) -> None:
    """Load a pretrained encoder saved by :func:`save_encoder` (``<path>/encoder.pth``)."""
    ckpt = Path(path) / "encoder.pth"
    if not ckpt.is_file():
        raise FileNotFoundError(f"pretrained encoder: '{ckpt}' not found (set --encoder_path to a dir made by stage 3)")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise RuntimeError(f"pretrained encoder: cannot read '{ckpt}' ({exc}); re-run stage 3") from exc
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("ctc_head")]:
        raise RuntimeError(
            f"pretrained encoder '{ckpt}' does not match the configured encoder: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}. Check encoder_conf against {path}/config.yaml"
        )
    logging.info("loaded pretrained encoder from %s", ckpt)
