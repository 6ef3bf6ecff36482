"""Give a pretrained CTC encoder the vocabulary of an extended LLM, to fine-tune it on a new corpus (stage 3).

The embedded recipe's encoder has a CTC head over its LLM's tokens (blank last). When stage 3 of a new
recipe extends that LLM's vocabulary (``part.bin.pretrain_llm --init_llm``, which writes
``vocab_extension.json``), the head must grow the same way, or the encoder and the LLM would disagree on
what every token id after the old ones means. This writes ``--out_dir`` with the base encoder's
``config.yaml`` and its model file with the grown head (:func:`part.model.vocab.extend_ctc_head`); the
recipe then fine-tunes it with ``--encoder_path <out_dir>``. An LLM without an extension gets the encoder
as it is, after checking that the head fits its vocabulary. A finished ``--out_dir`` (``.done`` naming the
same inputs) is kept.

    python -m part.bin.extend_encoder --base_encoder ../mini_multilingual/exp/encoder \\
        --model_file valid.loss.best.pth --llm_path exp/llm --out_dir exp/encoder_init
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import List, Optional

from part.fileio import atomic_path, atomic_write_text

CTC_HEAD = "encoder.ctc_head."


def identity(base: Path, model_file: str, llm_path: Path) -> dict:
    from part.bin.pretrain_llm import content_id

    extension = llm_path / "vocab_extension.json"
    return {"base_encoder": str(base.resolve()), "model": content_id(base / model_file),
            "extension": extension.read_text(encoding="utf-8") if extension.is_file() else None}


def extend(base: Path, model_file: str, llm_path: Path, out: Path) -> str:
    """Write ``out`` (see the module doc); returns what was done, for the log."""
    import torch

    from part.model.llm import load_tokenizer
    from part.model.vocab import VocabExtension, extend_ctc_head

    for needed in (base / "config.yaml", base / model_file):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed} does not exist: --base_encoder must be a finished encoder dir "
                                    "(exp/encoder of a recipe whose stage 3 has run)")
    state = torch.load(base / model_file, map_location="cpu", weights_only=True)
    if CTC_HEAD + "weight" not in state:
        raise ValueError(f"{base / model_file} has no CTC head ({CTC_HEAD}weight): not a CTC encoder of stage 3")
    extension = VocabExtension.load(llm_path)
    vocab = len(load_tokenizer(str(llm_path)))
    head = state[CTC_HEAD + "weight"].shape[0] - 1
    if extension is not None and extension.added:
        extend_ctc_head(state, extension, CTC_HEAD)
        what = f"CTC head grown from {head} to {extension.vocab_size} tokens (+ blank)"
    elif head != vocab:
        raise ValueError(f"the CTC head of {base / model_file} covers {head} tokens, the LLM in {llm_path} has "
                         f"{vocab}: the encoder was not trained with this LLM (and {llm_path} records no vocabulary "
                         "extension of the encoder's)")
    else:
        what = f"CTC head over the same {vocab} tokens, unchanged"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(base / "config.yaml", out / "config.yaml")
    with atomic_path(out / model_file) as tmp:
        torch.save(state, tmp)
    return what


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m part.bin.extend_encoder", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base_encoder", required=True, help="a finished encoder dir (config.yaml, model file)")
    parser.add_argument("--model_file", default="valid.loss.best.pth", help="its model file")
    parser.add_argument("--llm_path", required=True, help="the LLM the encoder is fine-tuned for (exp/llm)")
    parser.add_argument("--out_dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (extend_encoder) %(levelname)s: %(message)s")
    base, llm_path, out = Path(args.base_encoder), Path(args.llm_path), Path(args.out_dir)
    try:
        wanted = identity(base, args.model_file, llm_path)
        done = out / ".done"
        if done.is_file() and json.loads(done.read_text(encoding="utf-8")) == wanted:
            logging.info("%s is up to date; nothing to do", out)
            return 0
        what = extend(base, args.model_file, llm_path, out)
    except (FileNotFoundError, ValueError) as err:
        logging.error("%s", err)
        return 1
    atomic_write_text(out / ".done", json.dumps(wanted))
    logging.info("%s: %s (from %s)", out, what, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
