"""How fast is batched decoding against one utterance at a time, and are the hypotheses the same?

Usage::

    tools/venv/bin/python bench/bench_decode.py [--num_utts 64] [--batch_size 32] [--tokens 20]
        [--adapter transformer_cnn|ctc_posterior] [--encoder_conf KEY=VALUE ...] [--threads 1] [--repeats 2]
        [--device cpu|cuda] [--json bench_decode.json]

The model has the embedded recipe's default size with random weights: the encoder of
``egs/mini_multilingual/conf/encoder.yaml`` (ESPnet Conformer, 144-d, 4 blocks, low-frame-rate input;
``--encoder_conf`` overrides a key, e.g. ``rel_pos_type=legacy`` to see ESPnet's non-exact default), an
adapter, and a Qwen2 LLM (hidden 256, 4 layers, vocabulary 2000, as ``conf/llm_default.yaml``). ``--num_utts``
synthetic utterances of 2-4 s (noisy tones, 80-bin fbank computed beforehand, not timed) are decoded greedily through
``SpeechLLM.generate``, the model's public decoding entry point, with an ASR-like prompt; every
hypothesis is exactly ``--tokens`` tokens long (``min_new_tokens = max_new_tokens``: a random LLM has
no sensible EOS). Utterances are sorted by length into batches, as ``part_inference`` does.

Rows: one utterance at a time (batch 1), and batch ``--batch_size`` ("batched": ``generate`` encodes the
speech of a batch at once when the encoder is batch-exact, as the recipe's is).
Columns: wall seconds (best of ``--repeats``, the settings timed in turns), real-time factor (seconds /
seconds of audio), utterances/s, the share spent in the encoder + adapter, and the speed-up over batch 1.
The last line compares batch ``--batch_size`` (speech encoded at once) with one utterance at a time, token for token::

    bench_decode: speedup_b32=<x> identical=<true|false>

With a random ``ctc_posterior`` adapter nearly every encoder frame becomes a speech vector (a trained
CTC head keeps about one per token), so the LLM input is longer than in a trained model.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))
RECIPE_ENCODER = REPO / "egs" / "mini_multilingual" / "conf" / "encoder.yaml"
PROMPT_PREFIX, PROMPT_SUFFIX = [], [10, 11]  # token ids around the speech (the LLM is random)


def encoder_conf(overrides: List[str]) -> dict:
    conf = yaml.safe_load(RECIPE_ENCODER.read_text(encoding="utf-8"))["encoder_conf"]
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--encoder_conf {item!r}: expected KEY=VALUE")
        conf[key] = yaml.safe_load(value)
    return conf


def build_model(adapter: str, conf: dict, seed: int = 0):
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
    encoder = build_encoder("conformer", 80, conf, ctc_vocab_size=vocab if adapter == "ctc_posterior" else None)
    adapter_conf = {"hidden_dim": 256} if adapter == "ctc_posterior" else {}
    adapter_module = build_adapter(adapter, encoder.output_size, 256, adapter_conf)
    return SpeechLLM(encoder, adapter_module, llm, eos_id=2).eval()


def make_features(num_utts: int, min_s: float, max_s: float, seed: int = 0) -> List[np.ndarray]:
    from part.data.features import FeatureOptions, compute_features

    rng = np.random.default_rng(seed)
    feats = []
    for _ in range(num_utts):
        n = int(16000 * rng.uniform(min_s, max_s))
        t = np.arange(n) / 16000
        wave = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.02 * rng.standard_normal(n)
        feats.append(compute_features(wave.astype(np.float32), FeatureOptions()))
    return feats


def padded_batch(feats: List[np.ndarray], device) -> Dict[str, torch.Tensor]:
    """The inputs of ``SpeechLLM.generate`` for these utterances (features zero-padded)."""
    n = len(feats)
    lengths = torch.tensor([f.shape[0] for f in feats])
    speech = torch.zeros(n, int(lengths.max()), feats[0].shape[1])
    for i, f in enumerate(feats):
        speech[i, : f.shape[0]] = torch.from_numpy(np.asarray(f, dtype=np.float32))
    prefix = torch.tensor([PROMPT_PREFIX or [0]] * n)
    suffix = torch.tensor([PROMPT_SUFFIX] * n)
    batch = dict(speech=speech, speech_lengths=lengths, prefix=prefix,
                 prefix_lengths=torch.full((n,), len(PROMPT_PREFIX)), suffix=suffix,
                 suffix_lengths=torch.full((n,), len(PROMPT_SUFFIX)))
    return {k: v.to(device) for k, v in batch.items()}


def decode_all(model, feats: List[np.ndarray], batch_size: int, tokens: int, kwargs: dict, device):
    """Decode every utterance in length-sorted batches; returns (hyps in input order, encoder seconds)."""
    order = sorted(range(len(feats)), key=lambda i: -feats[i].shape[0])
    hyps: Dict[int, List[int]] = {}
    encoder_seconds = 0.0
    embed_speech = model.embed_speech

    def timed_embed(*args, **kw):
        nonlocal encoder_seconds
        t0 = time.perf_counter()
        out = embed_speech(*args, **kw)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        encoder_seconds += time.perf_counter() - t0
        return out

    model.embed_speech = timed_embed
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start: start + batch_size]
            out = model.generate(**padded_batch([feats[i] for i in chunk], device), max_new_tokens=tokens,
                                 min_new_tokens=tokens, max_repeat_ngram=0, **kwargs)
            hyps.update(zip(chunk, out))
    finally:
        del model.embed_speech
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return [hyps[i] for i in range(len(feats))], encoder_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num_utts", type=int, default=64)
    parser.add_argument("--min_seconds", type=float, default=2.0)
    parser.add_argument("--max_seconds", type=float, default=4.0)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=20, help="Generated tokens per utterance")
    parser.add_argument("--adapter", default="transformer_cnn", choices=["transformer_cnn", "ctc_posterior"])
    parser.add_argument("--encoder_conf", action="append", default=[], metavar="KEY=VALUE",
                        help="Override a key of the recipe's encoder_conf (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=2, help="Timed runs per setting (the best is kept)")
    parser.add_argument("--json", help="Also write the figures here")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    conf = encoder_conf(args.encoder_conf)
    model = build_model(args.adapter, conf).to(device)
    feats = make_features(args.num_utts, args.min_seconds, args.max_seconds)
    audio = sum(f.shape[0] for f in feats) / 100.0
    # The two settings are timed in turns (the best of --repeats each), so that a busy machine slows them alike.
    settings = [("one at a time", 1, {}), ("batched", args.batch_size, {})]
    with torch.no_grad():
        decode_all(model, feats[:4], 2, 3, {}, device)  # warm-up
        best: Dict[str, tuple] = {}
        outputs: Dict[str, list] = {}
        for _ in range(args.repeats):
            for name, bs, kwargs in settings:
                t0 = time.perf_counter()
                hyps, enc = decode_all(model, feats, bs, args.tokens, kwargs, device)
                elapsed = time.perf_counter() - t0
                if name not in best or elapsed < best[name][0]:
                    best[name] = (elapsed, enc)
                outputs[name] = hyps
    rows = []
    for name, bs, _ in settings:
        elapsed, enc = best[name]
        rows.append({"encoding": name, "batch_size": bs, "seconds": round(elapsed, 3), "rtf": round(elapsed / audio, 5),
                     "utts_per_second": round(len(feats) / elapsed, 2), "encoder_seconds": round(enc, 3),
                     "llm_seconds": round(elapsed - enc, 3)})
    one = rows[0]
    for r in rows:
        r["speedup"] = round(one["seconds"] / r["seconds"], 2)
        r["llm_speedup"] = round(one["llm_seconds"] / max(r["llm_seconds"], 1e-9), 2)
    identical = {"batched": outputs["batched"] == outputs["one at a time"]}
    speedup = rows[1]["speedup"]

    print(f"{args.num_utts} utterances, {audio:.1f} s of audio, {args.tokens} tokens each, adapter {args.adapter}, "
          f"encoder {RECIPE_ENCODER.relative_to(REPO)}"
          f"{' with ' + ', '.join(args.encoder_conf) if args.encoder_conf else ''}"
          f" (batch-exact: {model.encoder.batch_exact}), {args.threads} thread(s), "
          f"{platform.processor() or platform.machine()}, {device}")
    print(f"{'speech encoded':<15}{'batch':>6}{'seconds':>9}{'RTF':>9}{'utt/s':>8}{'encoder s':>11}{'LLM s':>8}"
          f"{'speed-up':>10}{'LLM speed-up':>14}")
    for r in rows:
        print(f"{r['encoding']:<15}{r['batch_size']:>6}{r['seconds']:>9.2f}{r['rtf']:>9.4f}{r['utts_per_second']:>8.1f}"
              f"{r['encoder_seconds']:>11.2f}{r['llm_seconds']:>8.2f}{r['speedup']:>9.2f}x{r['llm_speedup']:>13.2f}x")
    print(f"batch {args.batch_size} hypotheses equal one-at-a-time, token for token: "
          + ", ".join(f"speech encoded {mode}: {same}" for mode, same in identical.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "encoder_conf": conf, "batch_exact": model.encoder.batch_exact,
                       "audio_seconds": audio, "rows": rows, "identical": identical, "torch": torch.__version__,
                       "machine": platform.machine()}, f, indent=1)
    print(f"bench_decode: speedup_b32={speedup:.2f} identical={str(identical['batched']).lower()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
