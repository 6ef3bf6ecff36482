"""Adapters (projectors): encoder hidden states -> vectors in the LLM's embedding space.

Every adapter takes the :class:`~part.model.encoders.EncoderOutput` and the LLM's input embedding
table and returns ``(embeds (B, N, D_llm), lengths (B,))``. Register new ones with
``@register_adapter("name")``; the class's constructor receives ``encoder_dim``, ``llm_dim`` and the
adapter's config.

- ``transformer_cnn``: the paper's adapter — a strided Conv1d (time downsampling by ``stride``), then
  ``num_layers`` Transformer layers, then a projection to the LLM width.
- ``linear``: k stacked frames -> Linear -> GELU -> Linear (SLAM-LLM's linear projector).
- ``conv1d``: Conv1d with stride k -> GELU -> Linear.
- ``ctc_posterior``: built from the encoder's CTC posteriors over the LLM's own vocabulary: blank
  frames dropped, repeated frames merged, posteriors times the LLM's embedding table, plus a
  zero-initialised MLP of the encoder states (so it starts as the pure posterior embedding).
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
from torch import nn

from part.model.encoders import EncoderOutput

ADAPTERS: Dict[str, Callable[..., nn.Module]] = {}


def register_adapter(name: str):
    def wrap(cls):
        ADAPTERS[name] = cls
        return cls

    return wrap


def _padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """True at padded positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def _valid_frames(enc: EncoderOutput) -> torch.Tensor:
    """The encoder states with padded frames zeroed: a strided window that straddles the end of an
    utterance then sees zeros, as it does when the utterance is encoded alone (not the encoder's
    arbitrary outputs at padded positions, which depend on the rest of the batch)."""
    x = enc.hidden
    return x.masked_fill(_padding_mask(enc.lengths, x.size(1))[..., None], 0.0)


def _stride_lengths(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor").clamp(min=1)


@register_adapter("transformer_cnn")
class TransformerCNNAdapter(nn.Module):
    def __init__(self, encoder_dim: int, llm_dim: int, stride: int = 2, num_layers: int = 2,
                 d_model: int = 256, num_heads: int = 4, ffn_dim: int = 1024, dropout: float = 0.1):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(encoder_dim, d_model, kernel_size=stride, stride=stride)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, ffn_dim, dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.proj = nn.Linear(d_model, llm_dim)

    def forward(self, enc: EncoderOutput, token_embedding: nn.Embedding) -> Tuple[torch.Tensor, torch.Tensor]:
        x = _valid_frames(enc)
        pad = (-x.size(1)) % self.stride
        x = nn.functional.pad(x, (0, 0, 0, pad))
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        lengths = _stride_lengths(enc.lengths, self.stride)
        x = self.transformer(x, src_key_padding_mask=_padding_mask(lengths, x.size(1)))
        return self.proj(x), lengths


@register_adapter("linear")
class LinearStackAdapter(nn.Module):
    def __init__(self, encoder_dim: int, llm_dim: int, stride: int = 4, hidden_dim: int = 1024):
        super().__init__()
        self.stride = stride
        self.net = nn.Sequential(nn.Linear(encoder_dim * stride, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, llm_dim))

    def forward(self, enc: EncoderOutput, token_embedding: nn.Embedding):
        x = _valid_frames(enc)
        batch, frames, dim = x.shape
        pad = (-frames) % self.stride
        x = nn.functional.pad(x, (0, 0, 0, pad)).reshape(batch, (frames + pad) // self.stride, dim * self.stride)
        return self.net(x), _stride_lengths(enc.lengths, self.stride)


@register_adapter("conv1d")
class Conv1dAdapter(nn.Module):
    def __init__(self, encoder_dim: int, llm_dim: int, stride: int = 4, hidden_dim: int = 1024):
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(encoder_dim, hidden_dim, kernel_size=stride, stride=stride)
        self.proj = nn.Sequential(nn.GELU(), nn.Linear(hidden_dim, llm_dim))

    def forward(self, enc: EncoderOutput, token_embedding: nn.Embedding):
        x = _valid_frames(enc)
        pad = (-x.size(1)) % self.stride
        x = nn.functional.pad(x, (0, 0, 0, pad))
        x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return self.proj(x), _stride_lengths(enc.lengths, self.stride)


@register_adapter("ctc_posterior")
class CTCPosteriorAdapter(nn.Module):
    """Segments from the CTC path -> expected LLM token embedding (+ a learned correction).

    Requires an encoder with a CTC head over the LLM's vocabulary (blank = last index). Each run of
    identical non-blank best-path labels becomes one output vector: the mean of its frames' posteriors
    (blank mass removed) times the embedding table, plus ``mlp(mean of its frames' hidden states)``.
    """

    def __init__(self, encoder_dim: int, llm_dim: int, hidden_dim: int = 512, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature
        self.mlp = nn.Sequential(nn.Linear(encoder_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, llm_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, enc: EncoderOutput, token_embedding: nn.Embedding):
        if enc.ctc_logits is None:
            raise ValueError("the ctc_posterior adapter needs an encoder with a CTC head (encoder ctc_vocab_size)")
        logits = enc.ctc_logits / self.temperature
        batch, frames, _ = logits.shape
        best = logits.argmax(-1)  # (B, T)
        blank = logits.size(-1) - 1
        valid = ~_padding_mask(enc.lengths, frames)
        keep = valid & (best != blank)
        # A new segment starts where the label changes or the previous frame was blank/padding.
        prev = torch.nn.functional.pad(best, (1, 0), value=-1)[:, :-1]
        prev_keep = torch.nn.functional.pad(keep, (1, 0), value=False)[:, :-1]
        starts = keep & ~(prev_keep & (prev == best))
        seg_index = torch.cumsum(starts.long(), dim=1) - 1  # segment id of each frame
        lengths = starts.sum(1)
        num_segments = max(int(lengths.max()), 1)

        # The segment means are taken in float32 whatever the autocast dtype of the encoder's outputs (bf16
        # posteriors summed over a long segment lose their small values; scatter_add needs one dtype).
        probs = logits.float().softmax(-1)[..., :blank]
        probs = probs / probs.sum(-1, keepdim=True).clamp(min=1e-6)
        hidden = enc.hidden.float()
        # Average frames per segment with a scatter into (B, S, .) using the kept frames only.
        weight = keep.float()
        index = seg_index.clamp(min=0)
        seg_probs = probs.new_zeros(batch, num_segments, probs.size(-1))
        seg_probs.scatter_add_(1, index[..., None].expand_as(probs), probs * weight[..., None])
        seg_hidden = hidden.new_zeros(batch, num_segments, hidden.size(-1))
        seg_hidden.scatter_add_(1, index[..., None].expand_as(hidden), hidden * weight[..., None])
        counts = hidden.new_zeros(batch, num_segments).scatter_add_(1, index, weight).clamp(min=1.0)
        seg_probs = seg_probs / counts[..., None]
        seg_hidden = seg_hidden / counts[..., None]

        table = token_embedding.weight[:blank]
        embeds = seg_probs.to(table.dtype) @ table + self.mlp(seg_hidden).to(table.dtype)
        # An utterance with no non-blank frame still yields one (zero-information) vector.
        return embeds, lengths.clamp(min=1)


def build_adapter(name: str, encoder_dim: int, llm_dim: int, conf: dict) -> nn.Module:
    if name not in ADAPTERS:
        raise ValueError(f"unknown adapter '{name}'; registered: {', '.join(sorted(ADAPTERS))}")
    return ADAPTERS[name](encoder_dim=encoder_dim, llm_dim=llm_dim, **(conf or {}))
