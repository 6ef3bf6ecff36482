"""Speech encoders: a registry of builders that all return a :class:`SpeechEncoder`.

An encoder maps log-mel features ``(B, T, F)`` to hidden states ``(B, T', D)``. It also exposes its
blocks in order (``blocks()``), so that a schedule can unfreeze "the last N layers", and optionally a
CTC head over the LLM's token vocabulary (used to pretrain the encoder and by the ``ctc_posterior``
adapter).

Register a new encoder with ``@register_encoder("name")`` on a function ``(input_size, **conf) ->
SpeechEncoder``.

Encoders are batch-exact where they can be (``SpeechEncoder.batch_exact``): padding a batch changes no
utterance's output, so decoding can encode a whole batch at once and still give each utterance the
hypothesis it gets alone.
"""
from __future__ import annotations

import abc
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.utils.checkpoint
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
    """Base class: subclasses implement ``encode`` and ``blocks``.

    ``batch_exact``: whether an utterance's output is the same (to float rounding) whether it is encoded
    alone or padded in a batch (in eval mode), so that decoding may encode a batch at once.
    """

    output_size: int
    batch_exact: bool = True

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


class _FrameMask:
    """The valid frames ``(B, T')`` of the batch a Conformer block is processing, for the hooks of its
    convolution module (set around each block call, ``None`` outside of one)."""

    def __init__(self):
        self.valid: Optional[torch.Tensor] = None
        # True while gradient checkpointing recomputes a block: batch norm must not count the batch twice.
        self.recomputing = False

    @contextlib.contextmanager
    def recomputation(self):
        self.recomputing = True
        try:
            yield
        finally:
            self.recomputing = False

    def applies_to(self, x: torch.Tensor) -> bool:
        """Whether the mask fits ``x`` of shape ``(B, C, T')``."""
        return self.valid is not None and self.valid.shape == (x.size(0), x.size(-1))


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """Batch norm whose training statistics cover the valid frames only.

    ESPnet's Conformer convolution module normalises ``(B, C, T')`` with batch statistics that include
    the padded frames, so an utterance's training output (and the running statistics) would depend on how
    much padding its batch has. In eval mode, or without a frame mask, it is plain ``BatchNorm1d``. Its
    parameters and buffers are those of ``BatchNorm1d`` (checkpoints are interchangeable).
    """

    def __init__(self, source: nn.BatchNorm1d, frames: _FrameMask):
        super().__init__(source.num_features, source.eps, source.momentum, source.affine, source.track_running_stats)
        self.load_state_dict(source.state_dict())
        self._frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch_stats = self.training or not self.track_running_stats
        if not (use_batch_stats and self._frames.applies_to(x)):
            return super().forward(x)
        keep = self._frames.valid[:, None, :]
        x32 = x.float().masked_fill(~keep, 0.0)
        count = keep.sum().clamp(min=1).to(x32.dtype)
        mean = x32.sum((0, 2)) / count
        var = ((x32 - mean[None, :, None]).masked_fill(~keep, 0.0) ** 2).sum((0, 2)) / count
        if self.training and self.track_running_stats and not self._frames.recomputing:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        out = (x.float() - mean[None, :, None]) * torch.rsqrt(var + self.eps)[None, :, None]
        if self.affine:
            out = out * self.weight.float()[None, :, None] + self.bias.float()[None, :, None]
        return out.to(x.dtype)


def _valid_frames_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``(B, frames)``, True at the frames of each utterance (not padding)."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def _conv_output_lengths(convs: List[nn.Module], lengths: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Output lengths of a stack of unpadded-in-time convolutions (``dim``: the time axis of their kernels)."""
    for conv in convs:
        kernel, stride = conv.kernel_size[dim], conv.stride[dim]
        pad, dilation = conv.padding[dim], conv.dilation[dim]
        lengths = torch.div(lengths + 2 * pad - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1
    return lengths.clamp(min=0)


class ConformerSpeechEncoder(SpeechEncoder):
    """ESPnet's Conformer with global CMVN, optionally on low-frame-rate (stacked) features.

    ``lfr: [m, n]`` stacks m frames every n before the Conformer's input layer (use
    ``input_layer: linear`` with it): 7/6 gives 60 ms frames, as SenseVoice's encoder has, at a
    fraction of the cost of ESPnet's conv2d subsampling, which dominates a small Conformer's compute.

    **Exact batching.** An utterance's output does not depend on the batch it is encoded in (to float
    rounding): padded input frames are zero after normalisation; the lengths after ESPnet's conv2d
    subsampling are those of the utterance alone (ESPnet derives them from the padded mask, which counts
    output frames whose receptive field reaches into the padding); the depthwise convolution of every
    convolution module sees zeros past the end of each utterance, as it does alone (a forward pre-hook);
    its batch norm takes its training statistics from real frames only (:class:`MaskedBatchNorm1d`; in
    eval mode it uses its running statistics); attention is masked by ESPnet. The blocks are run here
    (ESPnet's modules, this loop) so that each block knows its mask. This needs ``rel_pos_type: latest``:
    ESPnet's default relative positional encoding (``legacy``) shifts its position scores by the padded
    length, and ``batch_exact`` is False with it.

    ``gradient_checkpointing: true`` recomputes each block's activations in the backward pass instead of
    keeping them (training only): less memory for the price of a second forward of the blocks.
    """

    def __init__(self, input_size: int = 80, stats_file: Optional[str] = None, lfr: Optional[List[int]] = None,
                 specaug: Optional[dict] = None, gradient_checkpointing: bool = False, **conformer_conf):
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
        if conformer_conf.get("interctc_layer_idx"):
            raise ValueError("encoder_conf.interctc_layer_idx: intermediate CTC is not supported by the speech encoder")
        conformer_input = input_size * self.lfr[0] if self.lfr else input_size
        self.conformer = ConformerEncoder(input_size=conformer_input, **conformer_conf)
        self.output_size = self.conformer.output_size()
        self.gradient_checkpointing = gradient_checkpointing
        # ESPnet's default relative positional encoding ("legacy") shifts the position scores by the padded
        # length of the batch, so its outputs depend on the batch; rel_pos_type "latest" does not.
        from espnet.nets.pytorch_backend.transformer.attention import LegacyRelPositionMultiHeadedAttention

        self.batch_exact = not any(isinstance(m, LegacyRelPositionMultiHeadedAttention) for m in self.modules())
        if not self.batch_exact:
            logging.warning("Conformer encoder with ESPnet's legacy relative positional encoding (rel_pos_type: "
                            "legacy, ESPnet's default): an utterance's output depends on the padded length of its "
                            "batch. Set encoder_conf.rel_pos_type: latest for exact batched encoding.")
        self._frames = _FrameMask()
        for block in self.conformer.encoders:
            conv = getattr(block, "conv_module", None)
            if conv is None:
                continue
            conv.depthwise_conv.register_forward_pre_hook(self._zero_padded_frames)
            if isinstance(conv.norm, nn.BatchNorm1d):
                conv.norm = MaskedBatchNorm1d(conv.norm, self._frames)

    def _zero_padded_frames(self, module, args):
        (x,) = args
        if self._frames.applies_to(x):
            return (x.masked_fill(~self._frames.valid[:, None, :], 0.0),)
        return None

    def encode(self, feats, lengths):
        # Padded frames are zero after normalisation (as ESPnet's GlobalMVN leaves them): the subsampling
        # (or frame stacking) at the end of an utterance then never sees -mean/std or whatever the batch
        # held there.
        normed = self.normalize(feats).masked_fill(~_valid_frames_mask(lengths, feats.size(1))[..., None], 0.0)
        if self.specaug is not None and self.training:
            normed, _ = self.specaug(normed, lengths)
        if self.lfr:
            normed, lengths = low_frame_rate(normed, lengths, *self.lfr)
        return self._run_conformer(normed, lengths)

    def _run_conformer(self, x: torch.Tensor, lengths: torch.Tensor):
        """ESPnet's ConformerEncoder.forward (without intermediate CTC), with exact subsampled lengths and
        the frame mask set around every block."""
        from espnet.nets.pytorch_backend.transformer.subsampling import TooShortUttError, check_short_utt

        conformer = self.conformer
        if hasattr(conformer.embed, "conv"):  # ESPnet's conv2d subsampling family: (x, mask) -> (x, mask)
            too_short, limit = check_short_utt(conformer.embed, x.size(1))
            if too_short:
                raise TooShortUttError(f"has {x.size(1)} frames and is too short for subsampling (it needs more "
                                       f"than {limit} frames)", x.size(1), limit)
            x, _ = conformer.embed(x, None)
            convs = [m for m in conformer.embed.conv if isinstance(m, nn.Conv2d)]
            lengths = _conv_output_lengths(convs, lengths)
        else:
            x = conformer.embed(x)
        frames = (x[0] if isinstance(x, tuple) else x).size(1)
        mask = _valid_frames_mask(lengths, frames)[:, None, :]
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for block in conformer.encoders:
            if checkpointing:
                x, mask = torch.utils.checkpoint.checkpoint(
                    self._run_block, block, x, mask, use_reentrant=False,
                    context_fn=lambda: (contextlib.nullcontext(), self._frames.recomputation()))
            else:
                x, mask = self._run_block(block, x, mask)
        if isinstance(x, tuple):
            x = x[0]
        if conformer.normalize_before:
            x = conformer.after_norm(x)
        return x, lengths

    def _run_block(self, block: nn.Module, x, mask: torch.Tensor):
        # Set inside the (possibly recomputed) function, so that a checkpointed block's recomputation in the
        # backward pass sees its own mask.
        self._frames.valid = mask[:, 0, :]
        try:
            return block(x, mask)
        finally:
            self._frames.valid = None

    def blocks(self):
        return list(self.conformer.encoders)

    def tail_modules(self):
        norm = getattr(self.conformer, "after_norm", None)
        return [norm] if norm is not None else []


class WhisperSpeechEncoder(SpeechEncoder):
    """The encoder of a Hugging Face Whisper model, from a local directory or a config dict.

    Inputs must be Whisper log-mel features (stage 2 with ``--feature_type whisper``).

    - ``full_window: false`` (the default): the encoder runs on the batch's own length — positional
      embeddings cut to it, padded frames zeroed before each convolution and masked out of attention —
      so a 5 s utterance costs 1/6 of the 30 s window, and its output does not depend on the batch.
      Whisper was pretrained on 30 s windows only; PART fine-tunes the encoder in phase 2, where it
      adapts to the shorter context.
    - ``full_window: true``: Whisper as released: every input padded to the window (30 s for the
      released models), attending over the padding, then cut back to the frames that cover real audio.
    - ``gradient_checkpointing: true``: each layer's activations are recomputed in the backward pass
      (Hugging Face's gradient checkpointing), for less memory in training.
    """

    def __init__(self, input_size: int = 80, path: Optional[str] = None, config: Optional[dict] = None,
                 full_window: bool = False, gradient_checkpointing: bool = False):
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
        self.full_window = full_window
        if gradient_checkpointing:
            from part.model.llm import enable_activation_checkpointing

            enable_activation_checkpointing(self.whisper)

    def encode(self, feats, lengths):
        frames = feats.size(1)
        if frames > self.window:
            raise ValueError(f"utterance of {frames} frames exceeds Whisper's {self.window}-frame window")
        whisper = self.whisper
        valid = _valid_frames_mask(lengths, frames)
        width = self.window if self.full_window else frames
        x = nn.functional.pad(feats.masked_fill(~valid[..., None], 0.0), (0, 0, 0, width - frames)).transpose(1, 2)
        x = nn.functional.gelu(whisper.conv1(x))
        if not self.full_window:  # the strided convolution must see zeros past the end, as it does alone
            x = x.masked_fill(~valid[:, None, :], 0.0)
        x = nn.functional.gelu(whisper.conv2(x)).transpose(1, 2)
        out_lengths = (lengths + 1) // 2
        positions = x.size(1)
        x = x + whisper.embed_positions.weight[:positions]
        x = nn.functional.dropout(x, p=whisper.dropout, training=self.training)
        mask = None
        if not self.full_window and bool((out_lengths < positions).any()):
            mask = self._attention_mask(out_lengths, positions)
        for layer in whisper.layers:
            if self.training and whisper.layerdrop > 0.0 and float(torch.rand([])) < whisper.layerdrop:
                continue  # LayerDrop, as Hugging Face's forward does it
            x = layer(x, mask)
        x = whisper.layer_norm(x)
        return x[:, : int(out_lengths.max())], out_lengths

    def _attention_mask(self, lengths: torch.Tensor, positions: int) -> torch.Tensor:
        """``(B, 1, 1, T')`` mask of the padded keys, in the form the layers' attention takes."""
        keep = _valid_frames_mask(lengths, positions)[:, None, None, :]
        implementation = self.whisper.config._attn_implementation
        if implementation == "sdpa":
            return keep
        if implementation == "eager":
            return torch.zeros(keep.shape, device=keep.device).masked_fill(~keep, torch.finfo(torch.float32).min)
        raise ValueError(f"Whisper encoder with attn_implementation '{implementation}': batches of several lengths "
                         "need 'sdpa' or 'eager' (or encoder_conf.full_window: true)")

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
