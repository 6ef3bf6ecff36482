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
    def __init__(self, encoder: SpeechEncoder, adapter: nn.Module, llm: nn.Module, eos_id: int,
                 save_llm_base: bool = False, llm_dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.encoder = encoder
        self.adapter = adapter
        self.llm = llm
        self.eos_id = eos_id
        self.save_llm_base = save_llm_base
        # A half-precision LLM keeps its dtype when the trainer casts the model to --train_dtype
        # (float32): a frozen 7B LLM in bfloat16 takes half the memory. Encoder and adapter follow
        # --train_dtype, and their vectors are cast to the LLM's dtype where they meet.
        self.llm_dtype = llm_dtype
        # Training batches, and those whose loss reached a trainable parameter (part/tasks/update_counts.py).
        self.update_counts = {"batches": 0, "with_gradient": 0}

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        if self.llm_dtype is not None:
            for name, p in self.llm.named_parameters():  # LoRA weights stay in float32 (peft's choice)
                if "lora_" not in name and p.is_floating_point() and p.dtype != self.llm_dtype:
                    p.data = p.data.to(self.llm_dtype)
        return self

    def train(self, mode: bool = True):
        """Training mode, except for batch-norm layers whose parameters are frozen (e.g. the Conformer
        convolution modules of encoder blocks a schedule keeps frozen): they stay in eval mode, so that
        their running statistics — part of the frozen layer — do not drift with the training batches.
        Call it after changing ``requires_grad`` (ESPnet's trainer does, at every epoch start)."""
        super().train(mode)
        if mode:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    params = list(module.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        module.eval()
        return self

    # ------------------------------------------------------------------ embeddings
    @property
    def token_embedding(self) -> nn.Embedding:
        return self.llm.get_input_embeddings()

    def embed_speech(self, speech: torch.Tensor, speech_lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encoder + adapter: ``(B, T, F)`` features -> ``(B, N, D_llm)`` vectors and their lengths."""
        enc = self.encoder(speech, speech_lengths)
        return self.adapter(enc, self.token_embedding)

    def _speech_vectors(self, speech, speech_lengths, one_by_one: bool = False) -> List[torch.Tensor]:
        """The speech vectors of each example (``(N_i, D)``; empty for text-only examples).

        ``one_by_one`` encodes each utterance alone, so that its vectors cannot depend on the padding of
        the batch (an encoder whose convolutions see padded frames); otherwise the batch is encoded at once.
        """
        batch = speech_lengths.size(0)
        weight = self.token_embedding.weight
        out = [weight.new_zeros(0, weight.size(1)) for _ in range(batch)]
        has_speech = (speech_lengths > 0).nonzero(as_tuple=True)[0].tolist()
        if not has_speech:
            return out
        if one_by_one:
            for i in has_speech:
                n = int(speech_lengths[i])
                emb, lens = self.embed_speech(speech[i: i + 1, :n], speech_lengths[i: i + 1])
                out[i] = emb[0, : int(lens[0])].to(weight.dtype)
            return out
        idx = torch.tensor(has_speech, device=speech_lengths.device)
        sub_len = speech_lengths[idx]
        emb, lens = self.embed_speech(speech[idx, : int(sub_len.max())], sub_len)
        for row, i in enumerate(has_speech):
            out[i] = emb[row, : int(lens[row])].to(weight.dtype)
        return out

    def build_inputs(self, speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths,
                     text=None, text_lengths=None, left_pad: bool = False, encode_one_by_one: bool = False):
        """Splice prompt embeddings, speech vectors and (for training) target embeddings; the one input
        builder of training (``forward``), decoding (``generate``) and analysis.

        Each example is ``prefix | speech vectors | suffix [| text + EOS]``. Returns ``inputs_embeds
        (B, L, D)``, ``attention_mask (B, L)`` and ``labels (B, L)`` (None without ``text``): the target
        and EOS positions carry their ids, everything else ``IGNORE``. With ``left_pad`` the sequences
        are right-aligned, as batched generation needs.
        """
        speech_parts = self._speech_vectors(speech, speech_lengths, encode_one_by_one)
        embed = self.token_embedding
        batch = prefix_lengths.size(0)
        seqs: List[torch.Tensor] = []
        label_seqs: List[Optional[torch.Tensor]] = []
        for i in range(batch):
            pre = embed(prefix[i, : prefix_lengths[i]].clamp(min=0))
            suf = embed(suffix[i, : suffix_lengths[i]].clamp(min=0))
            parts = [pre, speech_parts[i].to(pre.dtype), suf]
            n_prompt = sum(p.size(0) for p in parts)
            labels = None
            if text is not None:
                tgt = text[i, : text_lengths[i]]
                tgt = torch.cat([tgt, tgt.new_tensor([self.eos_id])])
                parts.append(embed(tgt))
                labels = torch.cat([tgt.new_full((n_prompt,), IGNORE), tgt])
            elif n_prompt == 0:
                raise ValueError(f"example {i} of the batch has neither prompt tokens nor speech: nothing to "
                                 "condition the LLM on")
            seqs.append(torch.cat(parts, dim=0))
            label_seqs.append(labels)

        max_len = max(seq.size(0) for seq in seqs)
        inputs = seqs[0].new_zeros(batch, max_len, seqs[0].size(1))
        mask = torch.zeros(batch, max_len, dtype=torch.long, device=inputs.device)
        labels = None if text is None else torch.full((batch, max_len), IGNORE, dtype=torch.long,
                                                      device=inputs.device)
        for i, seq in enumerate(seqs):
            n = seq.size(0)
            rows = slice(max_len - n, max_len) if left_pad else slice(0, n)
            inputs[i, rows] = seq
            mask[i, rows] = 1
            if labels is not None:
                labels[i, rows] = label_seqs[i]
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
        if self.training and torch.is_grad_enabled():
            self.update_counts["batches"] += 1
            self.update_counts["with_gradient"] += int(loss.requires_grad)
        if torch.is_grad_enabled() and not loss.requires_grad:
            # A batch that reaches no trainable parameter (text-only examples while only the speech side
            # trains, e.g. MT batches in an adapter-only phase): keep the loss attached to the graph so the
            # trainer's backward() works; the trainable parameters get zero gradients from this batch.
            trainable = [_local(p) for p in self.parameters() if p.requires_grad]
            if trainable:
                loss = loss + 0.0 * sum(p.sum() for p in trainable)
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
                 max_new_tokens: int = 128, stop_ids: Optional[List[int]] = None, max_repeat_ngram: int = 0,
                 beam_size: int = 1, length_penalty: float = 0.0, max_length_ratio: float = 0.0,
                 min_new_tokens: int = 0, return_scores: bool = False,
                 text=None, text_lengths=None):
        """Batched greedy or beam search (:mod:`part.model.search`); returns the generated ids per example.

        Takes the batch that training takes (``part.data.batch.collate``; a target ``text``, if present,
        is ignored). The result of an example does not depend on its batch: the batch's speech is encoded
        at once when the encoder is batch-exact (``encoder.batch_exact``: padding changes no utterance's
        output), else each utterance alone; prompts are left-padded with an attention mask and per-example
        position ids.

        - Decoding stops at EOS or any id in ``stop_ids`` (task and language tags); ``min_new_tokens``
          forbids stopping earlier (benchmarks).
        - Length limits: at most ``max_new_tokens`` tokens, and with ``max_length_ratio`` > 0 at most
          ``max(1, int(ratio * input length))``, the input length being the example's LLM input
          positions (prompt tokens + speech vectors).
        - ``max_repeat_ngram`` > 0: looping guard; ``beam_size`` > 1: beam search ranked by
          ``log P / length ** length_penalty``.

        With ``return_scores`` returns ``(hyps, scores)``, the total log-probability of each hypothesis
        (including its stop token, if it ended on one).
        """
        from part.model.search import Search

        batch = prefix_lengths.size(0)
        if max_new_tokens <= 0 or batch == 0:
            hyps, scores = [[] for _ in range(batch)], [0.0] * batch
            return (hyps, scores) if return_scores else hyps
        inputs, mask, _ = self.build_inputs(speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths,
                                            left_pad=True, encode_one_by_one=not self.encoder.batch_exact)
        limits = [max_new_tokens] * batch
        if max_length_ratio > 0:
            limits = [min(max_new_tokens, max(1, int(max_length_ratio * n))) for n in mask.sum(1).tolist()]
        search = Search(self.llm, self.token_embedding, stops=[self.eos_id] + list(stop_ids or []), limits=limits,
                        max_repeat_ngram=max_repeat_ngram, min_new_tokens=min_new_tokens)
        if beam_size <= 1:
            hyps, scores = search.greedy(inputs, mask)
        else:
            hyps, scores = search.beam(inputs, mask, beam_size, length_penalty)
        return (hyps, scores) if return_scores else hyps

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


def _local(p: torch.Tensor) -> torch.Tensor:
    """The part of a parameter held by this process (a DTensor shard under FSDP2; the tensor itself otherwise)."""
    to_local = getattr(p, "to_local", None)
    return to_local() if callable(to_local) else p


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def log_parameter_summary(model: nn.Module, header: str = "") -> None:
    trainable, total = count_parameters(model)
    logging.info("%strainable parameters: %s of %s (%.2f%%)", header, f"{trainable:,}", f"{total:,}",
                 100.0 * trainable / max(total, 1))
