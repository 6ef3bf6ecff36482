"""Export a trained phase as one self-contained model folder (Hugging Face conventions).

The folder holds ``config.json`` (model options without paths, front end, prompt templates, decoding
defaults, languages seen in training), ``model.safetensors`` (encoder + adapter), ``llm/`` (the LLM with
LoRA merged, and its tokenizer; with ``--merge_lora false`` the base LLM, and the LoRA adapter in
``lora/``) and a model card ``README.md`` (model, training data, phase schedule, scores). Use it with
``python -m part.bin.transcribe`` or ``SpeechToText.from_pretrained``; it needs neither the recipe nor the
original LLM folder. Run it from the recipe directory (relative paths of the training config are found
from there, or from the directories above the experiment dir).

    cd egs/mini_multilingual
    python -m part.bin.export --exp_dir exp/part_ctc_posterior_seed1/phase3 --out_dir ../../models/part-mini
    python -m part.bin.export --exp_dir exp/part_ctc_posterior_seed1/phase3 \\
        --out_dir /tmp/part-lora --merge_lora false --prompts conf/prompts.yaml --results RESULTS.md
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import List, Optional

from part.cli import str2bool


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="Trained phase dir (config.yaml + model files), e.g. "
                                                         "exp/part_ctc_posterior_seed1/phase3")
    parser.add_argument("--model_file", default="valid.acc.ave.pth", help="Model file inside --exp_dir")
    parser.add_argument("--out_dir", required=True, help="The folder to write (must not exist, or be empty)")
    parser.add_argument("--merge_lora", type=str2bool, default=True,
                        help="true: LoRA merged into the LLM's weights; false: base LLM in llm/, adapter in lora/")
    parser.add_argument("--prompts", default=None,
                        help="Prompt templates the model was trained with (default: the recipe's conf/prompts.yaml "
                             "above --exp_dir)")
    parser.add_argument("--results", default=None,
                        help="RESULTS.md with this experiment's scores, for the model card (default: the nearest one "
                             "above --exp_dir)")
    parser.add_argument("--llm_path", default=None, help="The base LLM, if it moved since training")
    parser.add_argument("--overwrite", type=str2bool, default=False, help="Replace an existing --out_dir")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (export) %(levelname)s: %(message)s")

    from part.export import ExportError, export_model

    try:
        out = export_model(args.exp_dir, args.out_dir, args.model_file, args.merge_lora, args.prompts, args.results,
                           args.llm_path, args.overwrite)
    except (ExportError, FileNotFoundError, ValueError) as err:
        sys.exit(f"export: {err}")
    print(f"exported {args.exp_dir} to {out}; try: python -m part.bin.transcribe {out} <audio files> --task asr "
          "--lang <code>")
    return 0


if __name__ == "__main__":
    sys.exit(main())
