"""Checks that save hours: a run that cannot work is said to be one early, not after training.

Each check returns what it found and logs one WARNING that says what is wrong, what it will cause and
what to do; none stops the run (a user may know better). Where they run:

- :func:`unknown_tokens` (stage 3): prompts whose tokens map to ``<unk>``, and the characters of the corpus
  that the tokenizer cannot encode;
- :func:`copy_check` (stage 3, and in-recipe LLM training): an LLM that cannot copy — held-out transcripts
  in the ASR prompt with the text where the speech goes, greedy; near 0% exact copies means no adapter can
  make it transcribe;
- :func:`schedule_check` (each training run): a warm-up longer than the run (the learning rate never
  reaches its peak);
- :func:`hypothesis_check` (stage 7): empty hypotheses, or one sentence for most inputs, above a threshold;
  written to ``<decode dir>/hyp_check.json`` for the report.

``python -m part.bin.check_run`` runs the first two and the last from the recipe.
"""
from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from part.data import prompts as prompt_format
from part.scoring.align import edit_distance

logger = logging.getLogger("part.checks")

HYP_CHECK_FILE = "hyp_check.json"
# A copy rate below this (exact copies of held-out transcripts, %) is "cannot copy".
MIN_COPY_PERCENT = 10.0
# Above these shares (%) of a decode dir's examples, empty or repeated hypotheses are flagged.
MAX_EMPTY_PERCENT = 20.0
MAX_REPEATED_PERCENT = 20.0
# Task and language tags, chat tokens: <|it|>, <|transcribe|>, <|im_start|>.
MARKER = re.compile(r"<\|[^|<>\s]+\|>")


def _show(text: str, limit: int = 90) -> str:
    text = prompt_format.escape(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------- <unk>
def unk_spans(tokenizer, text: str) -> List[str]:
    """The pieces of ``text`` that ``tokenizer`` maps to its unknown token (empty for byte-level ones)."""
    unk = tokenizer.unk_token_id
    if unk is None or not text:
        return []
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    spans: List[Tuple[int, int]] = []
    for token, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        if token != unk:
            continue
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return [text[a:b] if b > a else "?" for a, b in spans]


def unencodable_characters(tokenizer, texts: Iterable[str]) -> Counter:
    """``{character: occurrences}`` of the characters of ``texts`` that ``tokenizer`` maps to ``<unk>``."""
    counts = Counter(ch for text in texts for ch in text if not ch.isspace())
    if tokenizer.unk_token_id is None:
        return Counter()
    return Counter({ch: n for ch, n in counts.items() if unk_spans(tokenizer, ch)})


@dataclass
class UnknownTokens:
    prompts: int = 0                                            # distinct prompts checked
    bad_prompts: Dict[str, List[str]] = field(default_factory=dict)  # prompt -> its pieces mapped to <unk>
    unknown_tags: List[str] = field(default_factory=list)       # <|...|> tags of the prompts not in the vocabulary
    characters: Dict[str, int] = field(default_factory=dict)    # unencodable character -> occurrences

    @property
    def ok(self) -> bool:
        return not self.bad_prompts and not self.characters


def speech_prompt_pieces(prompt: str) -> List[str]:
    """The parts of a stored prompt around its ``<speech>`` placeholder, as the model tokenises them."""
    before, after = prompt_format.split(prompt_format.unescape(prompt))
    return [before] + ([after] if after is not None else [])


def unknown_tokens(tokenizer, prompts: Iterable[str], texts: Iterable[str], where: str = "") -> UnknownTokens:
    """Check the distinct stored ``prompts`` (an example list's ``prompt`` values) and the corpus ``texts``
    (transcripts and translations); warn once about what maps to ``<unk>``."""
    result = UnknownTokens()
    vocab = tokenizer.get_vocab()
    tags = set()
    for prompt in sorted(set(prompts)):
        result.prompts += 1
        pieces = [span for part in speech_prompt_pieces(prompt) for span in unk_spans(tokenizer, part)]
        if pieces:
            result.bad_prompts[prompt] = pieces
            tags.update(tag for tag in prompt_markers(prompt) if tag not in vocab)
    result.unknown_tags = sorted(tags)
    result.characters = dict(unencodable_characters(tokenizer, texts).most_common())
    if result.ok:
        logger.info("no <unk>: the LLM's tokenizer encodes the %d distinct prompts%s and every character of the corpus",
                    result.prompts, f" of {where}" if where else "")
    if result.bad_prompts:
        example, pieces = next(iter(result.bad_prompts.items()))
        logger.warning(
            "%d of %d distinct prompts%s have tokens that the LLM's tokenizer maps to <unk>, e.g. '%s' (%s). The "
            "LLM cannot tell the tasks and languages apart through <unk>. Use prompts in the LLM's own format (conf/"
            "embedded/prompts.yaml for the embedded recipe's LLM, conf/prompts.yaml (ChatML) for Qwen2.5 or SmolLM2: "
            "--prompts), or let stage 3 extend the in-recipe LLM's vocabulary (no --llm_path).",
            len(result.bad_prompts), result.prompts, f" of {where}" if where else "",
            _show(prompt_format.unescape(example)),
            (f"tags not in its vocabulary: {' '.join(result.unknown_tags)}; " if result.unknown_tags else "")
            + "pieces mapped to <unk>: " + " ".join(repr(p) for p in sorted(set(pieces))[:10]))
    if result.characters:
        shown = " ".join(f"{ch!r} ({unicodedata.name(ch, 'U+%04X' % ord(ch))}, {n}x)"
                         for ch, n in list(result.characters.items())[:12])
        logger.warning(
            "the LLM's tokenizer cannot encode %d character(s) of the corpus: %s. The model can neither read "
            "nor write them (they become <unk>). Without --llm_path stage 3 adds them to the in-recipe LLM's "
            "vocabulary; with another LLM, normalise them away in local/data.sh or choose an LLM whose tokenizer "
            "covers the script (byte-level BPE, as Qwen2.5's and SmolLM2's, covers every character).",
            len(result.characters), shown)
    return result


# ---------------------------------------------------------------------------------------------- copying
def prompt_ids_with_text(encode: Callable[[str], List[int]], prompt: str, source_ids: Sequence[int]) -> List[int]:
    """A speech prompt's token ids with ``source_ids`` where the speech goes: each part tokenised apart, as
    training and decoding tokenise them (:mod:`part.data.prompts`)."""
    before, after = prompt_format.split(prompt)
    return encode(before) + list(source_ids) + encode(after or "")


def greedy_continuation(model, tokenizer, ids: Sequence[int], max_new_tokens: int) -> str:
    """The greedy continuation of ``ids`` up to EOS (special tokens dropped from the text)."""
    import torch

    device = next(model.parameters()).device
    out = model.generate(torch.tensor([list(ids)], device=device), max_new_tokens=max_new_tokens, do_sample=False,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, len(ids):], skip_special_tokens=True).strip()


@dataclass
class CopyResult:
    examples: int
    exact_percent: float
    char_error_percent: float
    samples: List[Tuple[str, str]]  # (text, copy) of the first few

    @property
    def ok(self) -> bool:
        return self.examples == 0 or self.exact_percent >= MIN_COPY_PERCENT


def copy_check(model, tokenizer, items: Sequence[Tuple[str, str]], where: str = "",
               min_percent: float = MIN_COPY_PERCENT) -> CopyResult:
    """Copy accuracy of an LLM: ``items`` are ``(asr prompt, transcript)``; the transcript replaces the speech
    and the greedy continuation should repeat it. Warns below ``min_percent`` exact copies."""
    import torch

    model.eval()
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    exact, errors, chars, samples = 0, 0, 0, []
    with torch.no_grad():
        for prompt, text in items:
            source = encode(text)
            copy = greedy_continuation(model, tokenizer, prompt_ids_with_text(encode, prompt, source),
                                       len(source) + 8)
            exact += copy == text.strip()
            errors += edit_distance(copy, text.strip())
            chars += len(text.strip())
            if len(samples) < 3:
                samples.append((text, copy))
    n = len(items)
    result = CopyResult(n, 100.0 * exact / max(n, 1), 100.0 * errors / max(chars, 1), samples)
    if not n:
        logger.info("no held-out transcripts%s to check copying on", f" in {where}" if where else "")
    elif result.ok:
        logger.info("the LLM copies %.0f%% of %d held-out transcripts%s exactly (character error %.0f%%)",
                    result.exact_percent, n, f" ({where})" if where else "", result.char_error_percent)
    else:
        shown = "; ".join(f"{t!r} -> {c!r}" for t, c in samples)
        logger.warning(
            "the LLM copies %.0f%% of %d held-out transcripts%s exactly (character error %.0f%%; e.g. %s): given "
            "the ASR prompt with the text where the speech goes, it does not repeat it. A frozen LLM that cannot "
            "copy cannot transcribe through an adapter either: expect PART phases 1-2 to give near 100%% WER. "
            "Check the prompts (the LLM's own format?), continue the LLM on the corpus's text (no --llm_path: "
            "stage 3 does; more steps in conf/embedded/llm.yaml), or choose a stronger LLM.",
            result.exact_percent, n, f" ({where})" if where else "", result.char_error_percent, shown)
    return result


# ---------------------------------------------------------------------------------------------- schedule
@dataclass
class ScheduleCheck:
    updates: int          # optimizer updates of the run (estimated when the epoch size is not given)
    warmup: Optional[int]  # warm-up steps of the scheduler (None: no warm-up)
    estimated: bool

    @property
    def ok(self) -> bool:
        return self.warmup is None or self.warmup <= self.updates


def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def estimated_iterations_per_epoch(args) -> Tuple[int, bool]:
    """Batches per epoch: ``--num_iters_per_epoch``, else the training examples over the batch size (folded
    batches shrink for long utterances, so this is a lower bound)."""
    if getattr(args, "num_iters_per_epoch", None):
        return int(args.num_iters_per_epoch), False
    shapes = getattr(args, "train_shape_file", None) or []
    examples = _count_lines(Path(shapes[0])) if shapes and Path(shapes[0]).is_file() else 0
    return max(1, math.ceil(examples / max(1, int(getattr(args, "batch_size", 1) or 1)))), True


def schedule_check(args, name: str = "training") -> ScheduleCheck:
    """Warn when the scheduler's warm-up is longer than the run (parsed ``part_train`` options)."""
    iters, estimated = estimated_iterations_per_epoch(args)
    updates = iters * int(args.max_epoch) // max(1, int(getattr(args, "accum_grad", 1) or 1))
    warmup = None
    if args.scheduler and "warmup" in args.scheduler.lower():
        # ESPnet's WarmupLR defaults to 25,000 steps when the config names none.
        warmup = int((args.scheduler_conf or {}).get("warmup_steps", 25000))
    result = ScheduleCheck(updates, warmup, estimated)
    if not result.ok:
        peak = args.optim_conf.get("lr") if isinstance(getattr(args, "optim_conf", None), dict) else None
        logger.warning(
            "%s: the scheduler warms up over %d steps but the run has %s%d updates (%d epoch(s) of %d batch(es)%s): "
            "the learning rate never reaches its peak%s and ends at %.2g%% of it, so the run learns far less than "
            "its configuration suggests. Shorten the warm-up (e.g. --scheduler_conf warmup_steps=%d) or train "
            "longer (--num_iters_per_epoch, --max_epoch; a quick size: --size small).",
            name, warmup, "about " if estimated else "", updates, args.max_epoch, iters,
            f", accum_grad {args.accum_grad}" if getattr(args, "accum_grad", 1) > 1 else "",
            f" ({peak:g})" if isinstance(peak, (int, float)) else "", 100.0 * updates / warmup,
            max(1, updates // 10))
    return result


# ---------------------------------------------------------------------------------------------- hypotheses
@dataclass
class HypothesisCheck:
    decode_dir: str
    examples: int
    empty: int
    empty_percent: float
    most_common: str
    most_common_count: int
    most_common_percent: float
    ref_most_common_percent: float
    warnings: List[str]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False) + "\n"


def hypothesis_check(decode_dir: Path, max_empty_percent: float = MAX_EMPTY_PERCENT,
                     max_repeated_percent: float = MAX_REPEATED_PERCENT) -> HypothesisCheck:
    """Flag a decode dir whose hypotheses are mostly empty or mostly one sentence (more often than any
    reference repeats), write ``hyp_check.json`` there for the report, and warn."""
    from part.data.examples import read_kv
    from part.fileio import atomic_write_text

    decode_dir = Path(decode_dir)
    hyps = read_kv(decode_dir / "hyp")
    refs = read_kv(decode_dir / "ref") if (decode_dir / "ref").is_file() else {}
    n = len(hyps)
    empty = sum(1 for h in hyps.values() if not h.strip())
    counts = Counter(h.strip() for h in hyps.values() if h.strip())
    common, common_n = counts.most_common(1)[0] if counts else ("", 0)
    ref_common = Counter(r.strip() for r in refs.values()).most_common(1)[0][1] if refs else 0
    pct = lambda k: round(100.0 * k / n, 1) if n else 0.0  # noqa: E731
    warnings = []
    if n and pct(empty) > max_empty_percent:
        warnings.append(f"{pct(empty):g}% of the hypotheses are empty")
    # A test set may repeat a sentence (several speakers): only more repetition than the references have counts.
    if n and common_n > 1 and pct(common_n) > max(max_repeated_percent, 2 * pct(ref_common)):
        warnings.append(f"{pct(common_n):g}% of the hypotheses are the same sentence ({_show(common, 60)!r})")
    result = HypothesisCheck(str(decode_dir), n, empty, pct(empty), common, common_n, pct(common_n), pct(ref_common),
                             warnings)
    atomic_write_text(decode_dir / HYP_CHECK_FILE, result.to_json())
    if warnings:
        logger.warning(
            "%s: %s. The model has not learnt the task (scores of such a run mean little): check the warnings of "
            "stage 3 (prompts mapped to <unk>, an LLM that cannot copy) and of training (a warm-up longer than the "
            "run), and the training curves in the phase's images/.", decode_dir, "; ".join(warnings))
    return result


def read_hypothesis_check(decode_dir: Path) -> Optional[dict]:
    """The ``hyp_check.json`` of a decode dir (for reports), or None."""
    path = Path(decode_dir) / HYP_CHECK_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def prompt_markers(text: str) -> List[str]:
    """The ``<|...|>`` markers of a prompt (task and language tags, chat tokens)."""
    return MARKER.findall(text)
