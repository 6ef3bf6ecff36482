"""Warn early about a run that cannot work (the checks of :mod:`part.checks`, run by the recipe stages).

    # stage 3: prompts and corpus characters the LLM's tokenizer maps to <unk>
    python -m part.bin.check_run tokens --llm_path exp/llm --examples dump/examples/train dump/examples/dev \\
        --text data/train/text data/train/text.en
    # stage 3: can the LLM copy held-out transcripts (ASR prompt, text where the speech goes)?
    python -m part.bin.check_run copy --llm_path /models/Qwen2.5-1.5B-Instruct --examples dump/examples/dev
    # the same checks on raw-audio shard sets (--feats_type raw): their examples are made with the prompts
    python -m part.bin.check_run tokens --llm_path exp/llm --examples dump/raw/train --prompts conf/prompts.yaml
    # stage 7: empty or one-sentence hypotheses (writes <decode dir>/hyp_check.json for the report)
    python -m part.bin.check_run hyps --decode_dir exp/part/phase3/decode_test_asr

Every subcommand prints its findings as one JSON line on stdout and logs a WARNING for each problem; the
exit status is 0 whatever it found (warnings do not stop a run), 1 when the inputs cannot be read.
The warm-up check runs inside every training run (``part.bin.run_training``).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from part import checks


def _read_pairs(path: Path) -> Iterator[Tuple[str, str]]:
    from part.data.examples import read_kv

    yield from read_kv(path).items()


def _add_llm_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm_path", required=True, help="the LLM directory (config.json, or one .gguf file)")
    parser.add_argument("--gguf_file", help="the .gguf file in --llm_path (a GGUF LLM)")
    parser.add_argument("--prompts", help="prompt templates (conf/prompts.yaml): to make the examples of shard sets")
    parser.add_argument("--directions", default="*-en,en-*", help="translation directions (shard sets)")


def _sources(args, paths: Sequence[str]):
    """The evaluation sets named: example lists of stage 3, or shard sets (examples made with --prompts)."""
    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.data.sources import open_examples

    prompts = load_prompts(args.prompts) if args.prompts else None
    return [open_examples(path, prompts, directions=args.directions.split(","), features=FeatureOptions())
            for path in paths]


def run_tokens(args) -> dict:
    from part.model.llm import load_tokenizer

    tokenizer = load_tokenizer(args.llm_path, args.gguf_file)
    # Text-only (mt) prompts hold their source text, which --text checks character by character.
    prompts: List[str] = [info.prompt for source in _sources(args, args.examples)
                          for info in source.info.values() if info.task != "mt"]
    texts = [value for path in args.text if Path(path).is_file() for _, value in _read_pairs(Path(path))]
    result = checks.unknown_tokens(tokenizer, prompts, texts, where=", ".join(args.examples))
    return {"prompts": result.prompts, "prompts_with_unk": len(result.bad_prompts),
            "unknown_tags": result.unknown_tags, "unencodable_characters": result.characters}


def run_copy(args) -> dict:
    from part.data import prompts as prompt_format
    from part.model.llm import load_llm, load_tokenizer

    source = _sources(args, [args.examples])[0]
    items, seen = [], set()
    for key in source.ids("asr"):
        info = source.info[key]
        if info.target.strip() and info.target not in seen:
            seen.add(info.target)
            items.append((prompt_format.unescape(info.prompt), info.target))
        if len(items) == args.num:
            break
    tokenizer = load_tokenizer(args.llm_path, args.gguf_file)
    model = load_llm(args.llm_path, args.gguf_file)
    result = checks.copy_check(model, tokenizer, items, where=str(args.examples))
    return {"examples": result.examples, "exact_percent": round(result.exact_percent, 1),
            "char_error_percent": round(result.char_error_percent, 1)}


def run_hyps(args) -> dict:
    result = checks.hypothesis_check(Path(args.decode_dir), args.max_empty_percent, args.max_repeated_percent)
    return {k: v for k, v in asdict(result).items() if k != "most_common"}


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m part.bin.check_run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="check", required=True)
    tokens = sub.add_parser("tokens", help="prompts and corpus characters that the tokenizer maps to <unk>")
    _add_llm_options(tokens)
    tokens.add_argument("--examples", nargs="+", required=True,
                        help="example lists of stage 3, or shard sets (with --prompts)")
    tokens.add_argument("--text", nargs="*", default=[], help="id-text files of the corpus (transcripts, translations)")
    tokens.set_defaults(run=run_tokens)
    copy = sub.add_parser("copy", help="held-out copy accuracy of the LLM with the ASR prompt")
    _add_llm_options(copy)
    copy.add_argument("--examples", required=True,
                      help="an example list of stage 3, or a shard set, with asr examples (dev)")
    copy.add_argument("--num", type=int, default=20, help="distinct transcripts to copy")
    copy.set_defaults(run=run_copy)
    hyps = sub.add_parser("hyps", help="empty or one-sentence hypotheses of a decode dir")
    hyps.add_argument("--decode_dir", required=True)
    hyps.add_argument("--max_empty_percent", type=float, default=checks.MAX_EMPTY_PERCENT)
    hyps.add_argument("--max_repeated_percent", type=float, default=checks.MAX_REPEATED_PERCENT)
    hyps.set_defaults(run=run_hyps)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (check_run) %(levelname)s: %(message)s")
    from part.data.datadir import DataDirError

    try:
        found = args.run(args)
    except (OSError, ValueError, DataDirError) as err:
        logging.error("check_run %s: %s", args.check, err)
        return 1
    print(json.dumps(found, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
