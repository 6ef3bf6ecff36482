"""The PART speech-LLM: speech encoder -> adapter -> decoder-only LLM, trained with next-token NLL.

One example is ``prefix tokens | speech vectors | suffix tokens | target tokens + EOS``: the prompt
(``prefix`` and ``suffix``, split at the ``<speech>`` placeholder of the prompt template) carries the
task and the languages; the loss covers the target and EOS only. A text-only example (text
translation) has no speech (``speech_lengths == 0``) and its whole prompt is the prefix.

Checkpoints hold every parameter except the frozen base weights of the LLM, which are always re-read
from the LLM directory (a 7B LLM is not copied into every epoch's checkpoint); LoRA weights are kept.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn

from part.model.encoders import SpeechEncoder

try:  # ESPnet's model base class, so the model trains through ESPnet's Trainer
    from espnet2.train.abs_espnet_model import AbsESPnetModel
except ImportError:  # pragma: no cover - espnet is a hard dependency of the toolkit
    AbsESPnetModel = nn.Module

IGNORE = -100


class SpeechLLM(AbsESPnetModel):
    def __init__(self, encoder: SpeechEncoder, adapter: nn.Module, llm: nn.Module, eos_id: int, pad_id: int,
                 save_llm_base: bool = False):
        super().__init__()
        self.encoder = encoder
        self.adapter = adapter
        self.llm = llm
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.save_llm_base = save_llm_base

    # ------------------------------------------------------------------ embeddings
    @property
    def token_embedding(self) -> nn.Embedding:
        return self.llm.get_input_embeddings()

    def embed_speech(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encoder + adapter: ``(B, T, F)`` features -> ``(B, N, D_llm)`` vectors and their lengths."""
        enc = self.encoder(speech, speech_lengths)
        return self.adapter(enc, self.token_embedding)

    def _speech_for_batch(self, speech, speech_lengths):
        """Speech vectors for the examples that have speech; zero-length for text-only ones."""
        batch = speech_lengths.size(0)
        has_speech = speech_lengths > 0
        dim = self.token_embedding.weight.size(1)
        dtype = self.token_embedding.weight.dtype
        if not bool(has_speech.any()):
            return speech.new_zeros(batch, 0, dim, dtype=dtype), speech_lengths.new_zeros(batch)
        idx = has_speech.nonzero(as_tuple=True)[0]
        sub_len = speech_lengths[idx]
        embeds, lens = self.embed_speech(speech[idx, : int(sub_len.max())], sub_len)
        out = embeds.new_zeros(batch, embeds.size(1), dim)
        out[idx] = embeds.to(out.dtype)
        out_lens = speech_lengths.new_zeros(batch)
        out_lens[idx] = lens.to(out_lens.dtype)
        return out, out_lens

    def build_inputs(self, speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths,
                     target=None, target_lengths=None, left_pad: bool = False):
        """Splice prompt embeddings, speech vectors and (for training) target embeddings.

        Returns ``inputs_embeds (B, L, D)``, ``attention_mask (B, L)``, ``labels (B, L)`` (or None).
        With ``left_pad`` (generation) the sequences are right-aligned, as batched decoding needs.
        """
        speech_emb, speech_len = self._speech_for_batch(speech, speech_lengths)
        embed = self.token_embedding
        batch = prefix_lengths.size(0)
        parts_per_example: List[List[torch.Tensor]] = []
        label_per_example: List[torch.Tensor] = []
        for i in range(batch):
            pre = embed(prefix[i, : prefix_lengths[i]].clamp(min=0))
            suf = embed(suffix[i, : suffix_lengths[i]].clamp(min=0))
            parts = [pre, speech_emb[i, : speech_len[i]], suf]
            n_prompt = sum(p.size(0) for p in parts)
            labels = None
            if target is not None:
                tgt = target[i, : target_lengths[i]]
                tgt = torch.cat([tgt, tgt.new_tensor([self.eos_id])])
                parts.append(embed(tgt))
                labels = torch.cat([tgt.new_full((n_prompt,), IGNORE), tgt])
            parts_per_example.append(parts)
            label_per_example.append(labels)

        seqs = [torch.cat(p, dim=0) for p in parts_per_example]
        max_len = max(s.size(0) for s in seqs)
        dim = seqs[0].size(1)
        inputs = seqs[0].new_zeros(batch, max_len, dim)
        mask = torch.zeros(batch, max_len, dtype=torch.long, device=inputs.device)
        labels = None
        if target is not None:
            labels = torch.full((batch, max_len), IGNORE, dtype=torch.long, device=inputs.device)
        for i, seq in enumerate(seqs):
            n = seq.size(0)
            sl = slice(max_len - n, max_len) if left_pad else slice(0, n)
            inputs[i, sl] = seq
            mask[i, sl] = 1
            if labels is not None:
                labels[i, sl] = label_per_example[i]
        return inputs, mask, labels

    # ------------------------------------------------------------------ training
    def forward(self, speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths, text, text_lengths,
                **kwargs) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], torch.Tensor]:
        inputs, mask, labels = self.build_inputs(speech, speech_lengths, prefix, prefix_lengths, suffix,
                                                 suffix_lengths, text, text_lengths)
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.llm(inputs_embeds=inputs, attention_mask=mask, position_ids=position_ids).logits
        shift_logits = logits[:, :-1].float()
        shift_labels = labels[:, 1:]
        loss = nn.functional.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                                           shift_labels.reshape(-1), ignore_index=IGNORE)
        with torch.no_grad():
            valid = shift_labels != IGNORE
            acc = ((shift_logits.argmax(-1) == shift_labels) & valid).sum() / valid.sum().clamp(min=1)
        batch = speech_lengths.size(0)
        stats = {"loss": loss.detach(), "acc": acc.detach()}
        return loss, stats, torch.tensor(batch, device=loss.device)

    def collect_feats(self, speech, speech_lengths, **kwargs) -> Dict[str, torch.Tensor]:
        return {"feats": speech, "feats_lengths": speech_lengths}

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def generate(self, speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths,
                 max_new_tokens: int = 128, stop_ids: Optional[List[int]] = None,
                 max_repeat_ngram: int = 0) -> List[List[int]]:
        """Batched greedy decoding with the LLM's KV cache; returns the generated ids per example.

        Decoding of an example stops at EOS or any id in ``stop_ids`` (e.g. task tags: an ASR
        hypothesis must not run on into a translation). ``max_repeat_ngram`` > 0 stops a hypothesis
        whose last n-gram (n = 1..4) has already repeated that many times in a row (looping guard).
        """
        inputs, mask, _ = self.build_inputs(speech, speech_lengths, prefix, prefix_lengths, suffix,
                                            suffix_lengths, left_pad=True)
        batch = inputs.size(0)
        stops = set([self.eos_id] + list(stop_ids or []))
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.llm(inputs_embeds=inputs, attention_mask=mask, position_ids=position_ids, use_cache=True)
        cache = _cache_of(out)
        next_logits = out.logits[:, -1]
        finished = torch.zeros(batch, dtype=torch.bool, device=inputs.device)
        hyps: List[List[int]] = [[] for _ in range(batch)]
        last_pos = position_ids[:, -1]
        cache_arg = self._cache_arg
        for _ in range(max_new_tokens):
            token = next_logits.argmax(-1)
            for i in range(batch):
                if finished[i]:
                    continue
                t = int(token[i])
                if t in stops:
                    finished[i] = True
                else:
                    hyps[i].append(t)
                    if max_repeat_ngram and _is_looping(hyps[i], max_repeat_ngram):
                        finished[i] = True
            if bool(finished.all()):
                break
            mask = torch.cat([mask, mask.new_ones(batch, 1)], dim=1)
            last_pos = last_pos + 1
            out = self.llm(inputs_embeds=self.token_embedding(token[:, None]), attention_mask=mask,
                           position_ids=last_pos[:, None], use_cache=True, **{cache_arg: cache})
            cache = _cache_of(out)
            next_logits = out.logits[:, -1]
        return hyps

    @property
    def _cache_arg(self) -> str:
        """transformers renamed ``past_key_values`` to ``cache`` (5.x); use what this version takes."""
        import inspect

        base = self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm
        params = inspect.signature(base.forward).parameters
        return "cache" if "cache" in params else "past_key_values"

    # ------------------------------------------------------------------ checkpoints
    def _is_saved(self, name: str) -> bool:
        return self.save_llm_base or not name.startswith("llm.") or "lora_" in name

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        prefix = kwargs.get("prefix", "")
        for key in [k for k in state if not self._is_saved(k[len(prefix):])]:
            del state[key]
        return state

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=False, assign=assign)
        if strict:
            missing = [k for k in result.missing_keys if self._is_saved(k)]
            if missing or result.unexpected_keys:
                raise RuntimeError(
                    "checkpoint does not match the model: missing "
                    f"{missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {result.unexpected_keys[:5]}"
                )
        return result


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _is_looping(ids: List[int], repeats: int) -> bool:
    for n in range(1, 5):
        span = n * repeats
        if len(ids) >= span and all(ids[-span:][k] == ids[-n:][k % n] for k in range(span)):
            return True
    return False


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def log_parameter_summary(model: nn.Module, header: str = "") -> None:
    trainable, total = count_parameters(model)
    logging.info("%strainable parameters: %s of %s (%.2f%%)", header, f"{trainable:,}", f"{total:,}",
                 100.0 * trainable / max(total, 1))
