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
                 save_llm_base: bool = False, llm_dtype: Optional[torch.dtype] = None):
        super().__init__()
        self.encoder = encoder
        self.adapter = adapter
        self.llm = llm
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.save_llm_base = save_llm_base
        # A half-precision LLM keeps its dtype when the trainer casts the model to --train_dtype
        # (float32): a frozen 7B LLM in bfloat16 takes half the memory. Encoder and adapter follow
        # --train_dtype, and their vectors are cast to the LLM's dtype where they meet.
        self.llm_dtype = llm_dtype

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
            parts = [pre, speech_emb[i, : speech_len[i]].to(pre.dtype), suf]
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
        if torch.is_grad_enabled() and not loss.requires_grad:
            # A batch that reaches no trainable parameter (text-only examples while only the speech side
            # trains, e.g. MT batches in an adapter-only phase): keep the loss attached to the graph so the
            # trainer's backward() works; the trainable parameters get zero gradients from this batch.
            trainable = [p for p in self.parameters() if p.requires_grad]
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
                 min_new_tokens: int = 0, batch_encoder: bool = False, return_scores: bool = False):
        """Batched greedy or beam search with the LLM's KV cache; returns the generated ids per example.

        The result of an example does not depend on the batch it is decoded in: the speech of each
        example is encoded on its own (ESPnet's Conformer lets padded frames leak into real ones
        through its convolution module; ``batch_encoder=True`` encodes the batch at once, faster on a
        GPU, at that price; on a CPU it gains nothing), prompts are left-padded with an attention
        mask and per-example position ids, and finished examples leave the batch (their rows are
        dropped from the KV cache).

        - Decoding of an example stops at EOS or any id in ``stop_ids`` (task and language tags: an
          ASR hypothesis must not run on into a translation); the stop token is not part of the output.
          ``min_new_tokens`` forbids stopping before that many tokens (benchmarks).
        - Length limits: at most ``max_new_tokens`` tokens, and with ``max_length_ratio`` > 0 at most
          ``max(1, int(ratio * input length))``, the input length being the example's LLM input
          positions (prompt tokens + speech vectors).
        - ``max_repeat_ngram`` > 0 ends a hypothesis whose last n-gram (n = 1..4) has just repeated
          that many times in a row (looping guard); the repeats stay in the output.
        - ``beam_size`` > 1: beam search; hypotheses are ranked by ``log P / length ** length_penalty``
          (length counts the stop token; 0 = plain log-probability). ``beam_size`` 1 is greedy search.

        With ``return_scores`` returns ``(hyps, scores)``, ``scores`` being each hypothesis' total
        log-probability (including its stop token, if it ended on one).
        """
        batch = prefix_lengths.size(0)
        if max_new_tokens <= 0 or batch == 0:
            hyps, scores = [[] for _ in range(batch)], [0.0] * batch
            return (hyps, scores) if return_scores else hyps
        inputs, mask = self.generation_inputs(speech, speech_lengths, prefix, prefix_lengths, suffix,
                                              suffix_lengths, batch_encoder=batch_encoder)
        limits = [max_new_tokens] * batch
        if max_length_ratio > 0:
            limits = [min(max_new_tokens, max(1, int(max_length_ratio * n))) for n in mask.sum(1).tolist()]
        search = _Search(self, stops=[self.eos_id] + list(stop_ids or []), limits=limits,
                         max_repeat_ngram=max_repeat_ngram, min_new_tokens=min_new_tokens)
        if beam_size <= 1:
            hyps, scores = search.greedy(inputs, mask)
        else:
            hyps, scores = search.beam(inputs, mask, beam_size, length_penalty)
        return (hyps, scores) if return_scores else hyps

    def generation_inputs(self, speech, speech_lengths, prefix, prefix_lengths, suffix, suffix_lengths,
                          batch_encoder: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ``prefix | speech vectors | suffix`` embeddings ``(B, L, D)`` and mask ``(B, L)``.

        Each example's speech is encoded on its own unless ``batch_encoder`` (see :meth:`generate`).
        """
        batch = prefix_lengths.size(0)
        embed = self.token_embedding
        dim, dtype = embed.weight.size(1), embed.weight.dtype
        if batch_encoder:
            speech_emb, speech_len = self._speech_for_batch(speech, speech_lengths)
            speech_parts = [speech_emb[i, : int(speech_len[i])].to(dtype) for i in range(batch)]
        else:
            speech_parts = []
            for i, n in enumerate(speech_lengths.tolist()):
                if n > 0:
                    emb, lens = self.embed_speech(speech[i: i + 1, :n], speech_lengths[i: i + 1])
                    speech_parts.append(emb[0, : int(lens[0])].to(dtype))
                else:
                    speech_parts.append(embed.weight.new_zeros(0, dim))
        pre, suf = embed(prefix.clamp(min=0)), embed(suffix.clamp(min=0))
        pre_len, suf_len = prefix_lengths.tolist(), suffix_lengths.tolist()
        seqs = [torch.cat([pre[i, : pre_len[i]], speech_parts[i], suf[i, : suf_len[i]]]) for i in range(batch)]
        empty = [i for i, seq in enumerate(seqs) if seq.size(0) == 0]
        if empty:
            raise ValueError(f"example(s) {empty} of the batch have neither prompt tokens nor speech: nothing to "
                             "condition the LLM on")
        max_len = max(s.size(0) for s in seqs)
        inputs = pre.new_zeros(batch, max_len, dim)
        mask = torch.zeros(batch, max_len, dtype=torch.long, device=inputs.device)
        for i, seq in enumerate(seqs):
            inputs[i, max_len - seq.size(0):] = seq
            mask[i, max_len - seq.size(0):] = 1
        return inputs, mask

    @property
    def _cache_arg(self) -> str:
        """transformers renamed ``past_key_values`` to ``cache`` (5.x); use what this version takes."""
        return _llm_forward_params(self.llm)[0]

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


def _llm_forward_params(llm) -> Tuple[str, Dict[str, int]]:
    """The cache keyword of this transformers version and the option that limits logits to the last position."""
    import inspect

    base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
    params = inspect.signature(base.forward).parameters
    cache_arg = "cache" if "cache" in params else "past_key_values"
    extra = {}
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            extra[name] = 1
            break
    return cache_arg, extra


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _select_rows(cache, index: torch.Tensor):
    """Keep/reorder/duplicate the batch rows of a KV cache (``Cache`` object or legacy tuples)."""
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(index)
        return cache
    return tuple(tuple(t.index_select(0, index.to(t.device)) for t in layer) for layer in cache)


def _is_looping(ids: List[int], repeats: int) -> bool:
    for n in range(1, 5):
        span = n * repeats
        if len(ids) >= span and all(ids[-span:][k] == ids[-n:][k % n] for k in range(span)):
            return True
    return False


class _Search:
    """Greedy and beam search over a left-padded batch, with the KV cache; finished examples leave the batch."""

    def __init__(self, model: "SpeechLLM", stops: List[int], limits: List[int], max_repeat_ngram: int,
                 min_new_tokens: int):
        self.model = model
        self.stops = set(stops)
        self.stop_tensor = torch.tensor(sorted(self.stops), dtype=torch.long)
        self.limits = limits
        self.max_repeat_ngram = max_repeat_ngram
        self.min_new_tokens = min_new_tokens
        self.cache_arg, self.extra = _llm_forward_params(model.llm)

    def forward(self, embeds, mask, position_ids, cache):
        kwargs = dict(self.extra)
        if cache is not None:
            kwargs[self.cache_arg] = cache
        out = self.model.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=True,
                             **kwargs)
        return out.logits[:, -1], _cache_of(out)

    def step(self, tokens, mask, last_pos, cache):
        """Feed one token per row; returns the next logits, the cache and the grown mask and positions."""
        mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        last_pos = last_pos + 1
        logits, cache = self.forward(self.model.token_embedding(tokens[:, None]), mask, last_pos[:, None], cache)
        return logits, cache, mask, last_pos

    def log_probs(self, logits, step: int):
        logp = logits.float().log_softmax(-1)
        if step < self.min_new_tokens:
            logp[:, self.stop_tensor.to(logp.device)] = float("-inf")
        return logp

    def ends(self, b: int, ids: List[int]) -> bool:
        """Whether a hypothesis (without stop token) has reached its length limit or is looping."""
        return len(ids) >= self.limits[b] or bool(self.max_repeat_ngram and _is_looping(ids, self.max_repeat_ngram))

    def prefill(self, inputs, mask):
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        logits, cache = self.forward(inputs, mask, position_ids, None)
        return logits, cache, position_ids[:, -1]

    # -------------------------------------------------------------- greedy
    def greedy(self, inputs, mask):
        batch = inputs.size(0)
        logits, cache, last_pos = self.prefill(inputs, mask)
        hyps: List[List[int]] = [[] for _ in range(batch)]
        scores = [0.0] * batch
        active = list(range(batch))  # example of each row
        step = 0
        while True:
            best, token = self.log_probs(logits, step).max(-1)
            keep = []
            for row, (b, t, s) in enumerate(zip(active, token.tolist(), best.tolist())):
                scores[b] += s
                if t in self.stops:
                    continue
                hyps[b].append(t)
                if not self.ends(b, hyps[b]):
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(active):  # drop finished rows
                index = torch.tensor(keep, device=token.device)
                cache, mask, last_pos, token = _select_rows(cache, index), mask[index], last_pos[index], token[index]
                active = [active[r] for r in keep]
            logits, cache, mask, last_pos = self.step(token, mask, last_pos, cache)
            step += 1
        return hyps, scores

    # -------------------------------------------------------------- beam search
    def beam(self, inputs, mask, beam_size: int, length_penalty: float):
        batch, k = inputs.size(0), beam_size
        logits, cache, last_pos = self.prefill(inputs, mask)
        rows = torch.arange(batch, device=inputs.device).repeat_interleave(k)
        cache, mask, last_pos, logits = _select_rows(cache, rows), mask[rows], last_pos[rows], logits[rows]
        neg_inf = float("-inf")
        # Alive beams per example: (ids, log-probability); at first only one beam is live.
        beams = {b: [([], 0.0)] + [([], neg_inf)] * (k - 1) for b in range(batch)}
        beam_scores = torch.tensor([0.0] + [neg_inf] * (k - 1), device=logits.device).repeat(batch)
        finished: List[List[Tuple[float, float, List[int]]]] = [[] for _ in range(batch)]  # (normalised, logP, ids)
        active = list(range(batch))  # example of each block of k rows

        def norm(score: float, length: int) -> float:
            return score / max(length, 1) ** length_penalty

        step = 0
        while True:
            logp = self.log_probs(logits, step)
            vocab = logp.size(-1)
            cand = (beam_scores[:, None] + logp).view(len(active), k * vocab)
            top_s, top_i = cand.topk(min(2 * k, k * vocab), dim=-1)
            next_rows, next_tokens, next_scores, kept = [], [], [], []
            for a, (b, cand_s, cand_i) in enumerate(zip(active, top_s.tolist(), top_i.tolist())):
                new: List[Tuple[List[int], float, int, int]] = []
                for rank, (s, flat) in enumerate(zip(cand_s, cand_i)):
                    if s == neg_inf or len(new) == k:
                        break
                    src, t = divmod(flat, vocab)
                    ids = beams[b][src][0]
                    if t in self.stops:
                        if rank < k:
                            finished[b].append((norm(s, len(ids) + 1), s, ids))
                        continue
                    ids = ids + [t]
                    if self.ends(b, ids):
                        if rank < k:
                            finished[b].append((norm(s, len(ids)), s, ids))
                        continue
                    new.append((ids, s, a * k + src, t))
                done = not new
                if not done and len(finished[b]) >= k:
                    worst_kept = sorted((f[0] for f in finished[b]), reverse=True)[k - 1]
                    done = norm(new[0][1], len(new[0][0])) <= worst_kept  # alive beams all have the same length
                if done:
                    continue
                new += [([], neg_inf, a * k, self.model.eos_id)] * (k - len(new))
                beams[b] = [(ids, s) for ids, s, _, _ in new]
                next_rows += [r for _, _, r, _ in new]
                next_tokens += [t for _, _, _, t in new]
                next_scores += [s for _, s, _, _ in new]
                kept.append(b)
            if not kept:
                break
            device = logits.device
            index = torch.tensor(next_rows, device=device)
            cache, mask, last_pos = _select_rows(cache, index), mask[index], last_pos[index]
            beam_scores = torch.tensor(next_scores, device=device, dtype=torch.float32)
            active = kept
            logits, cache, mask, last_pos = self.step(torch.tensor(next_tokens, device=device), mask, last_pos, cache)
            step += 1
        hyps, scores = [], []
        for b in range(batch):
            if finished[b]:
                _, s, ids = max(finished[b], key=lambda f: f[0])
            else:  # pragma: no cover - every search ends with a finished hypothesis
                s, ids = neg_inf, []
            hyps.append(ids)
            scores.append(s)
        return hyps, scores


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def log_parameter_summary(model: nn.Module, header: str = "") -> None:
    trainable, total = count_parameters(model)
    logging.info("%strainable parameters: %s of %s (%.2f%%)", header, f"{trainable:,}", f"{total:,}",
                 100.0 * trainable / max(total, 1))
