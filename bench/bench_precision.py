"""Does bf16 decoding give the hypotheses float32 gives? A trained phase decodes an evaluation set twice.

    cd egs/mini_multilingual     # after ./run_all.sh
    python ../../bench/bench_precision.py --exp_dir exp/part_ctc_posterior_seed1/phase3 --data_dir dump/examples/test

Each example is decoded in float32 and under bf16 autocast (``part.model.precision.autocast``, forced on
here: CPUs emulate bf16, so the run is slow but the numbers are bf16's), with the same search. Printed: the
share of float32's tokens that bf16 reproduces (1 - token edit distance / float32 tokens, over all
examples), the share of identical hypotheses, and the time of each pass. The target (issue 17): bf16
agrees with float32 on >= 99% of the tokens of the embedded test set. The last line is
``bench_precision: token_agreement=<x> identical=<y> examples=<n>``.
"""
from __future__ import annotations

import argparse
import time
from typing import List


def decode_all(s2t, source, ids: List[str], batch_size: int) -> List[List[int]]:
    out = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start: start + batch_size]
        examples = [source.example(k) for k in chunk]
        for ex in examples:
            ex.pop("text")
        out.extend(s2t.decode_examples(examples))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--exp_dir", required=True, help="a trained phase dir (config.yaml + model file)")
    parser.add_argument("--model_file", default="valid.acc.ave.pth")
    parser.add_argument("--data_dir", required=True, help="an example list (dump/examples/<set>) or shard set")
    parser.add_argument("--prompts", default=None, help="prompt templates, for a shard set")
    parser.add_argument("--tasks", default="asr,s2tt", help="tasks to decode")
    parser.add_argument("--limit", type=int, default=300, help="examples per task (0: all)")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()

    import torch

    from part.data.features import FeatureOptions
    from part.data.prompts import load_prompts
    from part.data.sources import open_examples
    from part.inference import SpeechToText, load_model
    from part.scoring.align import edit_distance

    torch.set_num_threads(args.threads)
    model, tokenizer, config = load_model(args.exp_dir, args.model_file)
    features = FeatureOptions.for_model(config)
    tasks = args.tasks.split(",")
    source = open_examples(args.data_dir, load_prompts(args.prompts) if args.prompts else None, tasks,
                           features=features)
    ids = [k for t in tasks for k in (source.ids(t)[: args.limit] if args.limit else source.ids(t))]
    results = {}
    for bf16 in ("false", "true"):
        s2t = SpeechToText(model, tokenizer, features=features, bf16=bf16)
        t0 = time.perf_counter()
        results[bf16] = decode_all(s2t, source, ids, args.batch_size)
        print(f"bf16={bf16}: {len(ids)} examples in {time.perf_counter() - t0:.1f} s")
    ref, hyp = results["false"], results["true"]
    errors = sum(edit_distance(r, h) for r, h in zip(ref, hyp))
    tokens = sum(len(r) for r in ref)
    agreement = 1.0 - errors / max(tokens, 1)
    identical = sum(r == h for r, h in zip(ref, hyp)) / max(len(ref), 1)
    print(f"float32 tokens {tokens}, token edits to bf16 {errors}; identical hypotheses {identical:.1%}")
    print(f"bench_precision: token_agreement={agreement:.4f} identical={identical:.4f} examples={len(ids)}")


if __name__ == "__main__":
    main()
