"""Search beside the model: batched greedy and beam search over an LLM's KV cache.

The search starts from input embeddings (prompt and speech vectors spliced by
:meth:`part.model.speech_llm.SpeechLLM.build_inputs`, left-padded with an attention mask), so it knows
nothing of speech: any decoder-only Hugging Face LM with ``inputs_embeds`` works. Finished examples
leave the batch (their rows are dropped from the KV cache), positions are per example, so a result
never depends on the other examples of its batch.

- A hypothesis ends at any id of ``stops`` (EOS, task and language tags); the stop token is not part
  of the output. ``min_new_tokens`` forbids stopping earlier (benchmarks).
- ``limits[b]``: at most that many tokens for example ``b``.
- ``max_repeat_ngram`` > 0 ends a hypothesis whose last n-gram (n = 1..4) has just repeated that many
  times in a row (looping guard); the repeats stay in the output.
- Beam search ranks hypotheses by ``log P / length ** length_penalty`` (length counts the stop token).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn


def llm_forward_params(llm) -> Tuple[str, Dict[str, int]]:
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


def cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def select_rows(cache, index: torch.Tensor):
    """Keep/reorder/duplicate the batch rows of a KV cache (``Cache`` object or legacy tuples)."""
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(index)
        return cache
    return tuple(tuple(t.index_select(0, index.to(t.device)) for t in layer) for layer in cache)


def is_looping(ids: List[int], repeats: int) -> bool:
    for n in range(1, 5):
        span = n * repeats
        if len(ids) >= span and all(ids[-span:][k] == ids[-n:][k % n] for k in range(span)):
            return True
    return False


class Search:
    """Greedy and beam search over a left-padded batch of input embeddings, with the KV cache.

    ``llm`` is the causal LM, ``embed`` its input embedding table (for the generated tokens).
    """

    def __init__(self, llm: nn.Module, embed: nn.Module, stops: List[int], limits: List[int], max_repeat_ngram: int,
                 min_new_tokens: int):
        self.llm, self.embed = llm, embed
        self.filler = stops[0]  # fills the unused rows of a beam block; never read back
        self.stops = set(stops)
        self.stop_tensor = torch.tensor(sorted(self.stops), dtype=torch.long)
        self.limits = limits
        self.max_repeat_ngram = max_repeat_ngram
        self.min_new_tokens = min_new_tokens
        self.cache_arg, self.extra = llm_forward_params(llm)

    def forward(self, embeds, mask, position_ids, cache):
        kwargs = dict(self.extra)
        if cache is not None:
            kwargs[self.cache_arg] = cache
        out = self.llm(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=True,
                       **kwargs)
        return out.logits[:, -1], cache_of(out)

    def step(self, tokens, mask, last_pos, cache):
        """Feed one token per row; returns the next logits, the cache and the grown mask and positions."""
        mask = torch.cat([mask, mask.new_ones(mask.size(0), 1)], dim=1)
        last_pos = last_pos + 1
        logits, cache = self.forward(self.embed(tokens[:, None]), mask, last_pos[:, None], cache)
        return logits, cache, mask, last_pos

    def log_probs(self, logits, step: int):
        logp = logits.float().log_softmax(-1)
        if step < self.min_new_tokens:
            logp[:, self.stop_tensor.to(logp.device)] = float("-inf")
        return logp

    def ends(self, b: int, ids: List[int]) -> bool:
        """Whether a hypothesis (without stop token) has reached its length limit or is looping."""
        return len(ids) >= self.limits[b] or bool(self.max_repeat_ngram and is_looping(ids, self.max_repeat_ngram))

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
                cache, mask, last_pos, token = select_rows(cache, index), mask[index], last_pos[index], token[index]
                active = [active[r] for r in keep]
            logits, cache, mask, last_pos = self.step(token, mask, last_pos, cache)
            step += 1
        return hyps, scores

    # -------------------------------------------------------------- beam search
    def beam(self, inputs, mask, beam_size: int, length_penalty: float):
        batch, k = inputs.size(0), beam_size
        logits, cache, last_pos = self.prefill(inputs, mask)
        rows = torch.arange(batch, device=inputs.device).repeat_interleave(k)
        cache, mask, last_pos, logits = select_rows(cache, rows), mask[rows], last_pos[rows], logits[rows]
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
                new += [([], neg_inf, a * k, self.filler)] * (k - len(new))
                beams[b] = [(ids, s) for ids, s, _, _ in new]
                next_rows += [r for _, _, r, _ in new]
                next_tokens += [t for _, _, _, t in new]
                next_scores += [s for _, s, _, _ in new]
                kept.append(b)
            if not kept:
                break
            device = logits.device
            index = torch.tensor(next_rows, device=device)
            cache, mask, last_pos = select_rows(cache, index), mask[index], last_pos[index]
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
