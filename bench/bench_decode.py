"""How fast is decoding, batched against one utterance at a time? Prints real-time factors and utterances/s.

Usage::

    tools/venv/bin/python bench/bench_decode.py [--num_utts 64] [--batch_size 16] [--tokens 20]
        [--adapter transformer_cnn|ctc_posterior] [--threads 1] [--repeats 2] [--json bench_decode.json]

The model has the embedded recipe's default size with random weights: the encoder of
``egs/mini_multilingual/conf/encoder.yaml`` (ESPnet Conformer, 144-d, 4 blocks, low-frame-rate input), an adapter, and a Qwen2 LLM (hidden 256, 4 layers,
vocabulary 2000, as ``conf/llm_default.yaml``). ``--num_utts`` synthetic utterances of 2-4 s (noisy
tones, 80-bin fbank computed beforehand, not timed) are decoded with an ASR-like prompt; every
hypothesis is exactly ``--tokens`` tokens long (``min_new_tokens = max_new_tokens``: a random LLM has
no sensible EOS). Utterances are sorted by length into batches as ``part_inference`` does.

Rows: batch 1 and batch ``--batch_size``, exact (each utterance's speech encoded on its own, the
default) and ``batch_encoder`` (speech encoded as a padded batch). Columns: wall seconds (best of
``--repeats``), real-time factor (seconds / seconds of audio), utterances/s, the share spent in the
encoder + adapter, and the speed-up over batch 1. Also reports whether batched hypotheses equal the
one-at-a-time ones.

With a random ``ctc_posterior`` adapter nearly every encoder frame becomes a speech vector (a trained
CTC head keeps about one per token), so the LLM input is longer than in a trained model.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import json
import platform
import sys
import time
from typing import Dict, List

import numpy as np
import torch


def build_model(adapter: str, seed: int = 0):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from part.model.adapters import build_adapter
    from part.model.encoders import build_encoder
    from part.model.speech_llm import SpeechLLM

    torch.manual_seed(seed)
    vocab = 2000
    llm = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=vocab, hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True, bos_token_id=1,
        eos_token_id=2, pad_token_id=3))
    with torch.no_grad():  # weights larger than Hugging Face's init, so hypotheses depend on the input
        for p in llm.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 2.0 / p.size(-1) ** 0.5)
    import yaml

    recipe_conf = Path(__file__).resolve().parents[1] / "egs" / "mini_multilingual" / "conf" / "encoder.yaml"
    encoder_conf = yaml.safe_load(recipe_conf.read_text(encoding="utf-8"))["encoder_conf"]
    encoder = build_encoder("conformer", 80, encoder_conf,
                            ctc_vocab_size=vocab if adapter == "ctc_posterior" else None)
    conf = {"hidden_dim": 256} if adapter == "ctc_posterior" else {}
    adapter_module = build_adapter(adapter, encoder.output_size, 256, conf)
    return SpeechLLM(encoder, adapter_module, llm, eos_id=2, pad_id=3).eval()


def make_features(num_utts: int, min_s: float, max_s: float, seed: int = 0) -> List[np.ndarray]:
    from part.bin.extract_feats import FbankOptions, compute_fbank

    rng = np.random.default_rng(seed)
    feats = []
    for _ in range(num_utts):
        n = int(16000 * rng.uniform(min_s, max_s))
        t = np.arange(n) / 16000
        wave = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.02 * rng.standard_normal(n)
        feats.append(compute_fbank(wave.astype(np.float32), FbankOptions()))
    return feats


def decode_all(model, feats: List[np.ndarray], batch_size: int, tokens: int, batch_encoder: bool):
    """Decode every utterance in length-sorted batches; returns (hyps in input order, encoder seconds)."""
    from part.inference import Batch

    order = sorted(range(len(feats)), key=lambda i: -feats[i].shape[0])
    hyps: Dict[int, List[int]] = {}
    encoder_seconds = 0.0
    embed_speech = model.embed_speech

    def timed_embed(*args, **kwargs):
        nonlocal encoder_seconds
        t0 = time.perf_counter()
        out = embed_speech(*args, **kwargs)
        encoder_seconds += time.perf_counter() - t0
        return out

    model.embed_speech = timed_embed
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start: start + batch_size]
            batch = Batch([feats[i] for i in chunk], [[] for _ in chunk], [[10, 11] for _ in chunk], 80)
            out = model.generate(**batch.as_kwargs(), max_new_tokens=tokens, min_new_tokens=tokens,
                                 max_repeat_ngram=0, batch_encoder=batch_encoder)
            hyps.update(zip(chunk, out))
    finally:
        del model.embed_speech
    return [hyps[i] for i in range(len(feats))], encoder_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=64)
    parser.add_argument("--min_seconds", type=float, default=2.0)
    parser.add_argument("--max_seconds", type=float, default=4.0)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=20, help="Generated tokens per utterance")
    parser.add_argument("--adapter", default="transformer_cnn", choices=["transformer_cnn", "ctc_posterior"])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=2, help="Timed runs per setting (the best is kept)")
    parser.add_argument("--json", help="Also write the figures here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    model = build_model(args.adapter)
    feats = make_features(args.num_utts, args.min_seconds, args.max_seconds)
    audio = sum(f.shape[0] for f in feats) / 100.0
    with torch.no_grad():
        decode_all(model, feats[:4], 2, 3, False)  # warm-up
        rows, outputs = [], {}
        for batch_encoder in (False, True):
            for bs in (1, args.batch_size):
                best = None
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    hyps, enc = decode_all(model, feats, bs, args.tokens, batch_encoder)
                    elapsed = time.perf_counter() - t0
                    if best is None or elapsed < best[0]:
                        best = (elapsed, enc)
                outputs[(batch_encoder, bs)] = hyps
                elapsed, enc = best
                rows.append({"mode": "batch_encoder" if batch_encoder else "exact", "batch_size": bs,
                             "seconds": round(elapsed, 3), "rtf": round(elapsed / audio, 5),
                             "utts_per_second": round(len(feats) / elapsed, 2),
                             "encoder_seconds": round(enc, 3), "llm_seconds": round(elapsed - enc, 3)})
    by_key = {(r["mode"], r["batch_size"]): r for r in rows}
    for r in rows:
        base = by_key[(r["mode"], 1)]
        r["speedup"] = round(base["seconds"] / r["seconds"], 2)
        r["llm_speedup"] = round(base["llm_seconds"] / max(r["llm_seconds"], 1e-9), 2)
    exact_equal = outputs[(False, 1)] == outputs[(False, args.batch_size)]
    batch_encoder_equal = outputs[(True, 1)] == outputs[(True, args.batch_size)]

    print(f"{args.num_utts} utterances, {audio:.1f} s of audio, {args.tokens} tokens each, adapter {args.adapter}, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}")
    print(f"{'mode':<14}{'batch':>6}{'seconds':>9}{'RTF':>9}{'utt/s':>8}{'encoder s':>11}{'LLM s':>8}"
          f"{'speed-up':>10}{'LLM speed-up':>14}")
    for r in rows:
        print(f"{r['mode']:<14}{r['batch_size']:>6}{r['seconds']:>9.2f}{r['rtf']:>9.4f}{r['utts_per_second']:>8.1f}"
              f"{r['encoder_seconds']:>11.2f}{r['llm_seconds']:>8.2f}{r['speedup']:>9.2f}x{r['llm_speedup']:>13.2f}x")
    print(f"batched hypotheses equal one-at-a-time: exact mode {exact_equal}, batch_encoder mode {batch_encoder_equal}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "audio_seconds": audio, "rows": rows, "exact_equal": exact_equal,
                       "batch_encoder_equal": batch_encoder_equal, "torch": torch.__version__,
                       "machine": platform.machine()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
