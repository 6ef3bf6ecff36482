"""Pretrain the embedded recipe's tiny multilingual LLM (a small Qwen2-architecture model), or continue one
on a new corpus.

The LLM learns, from the parallel text corpus of stage 1, in the very prompt formats that the speech
tasks will use later (``conf/prompts.yaml``, with the source *text* where the speech goes):

- copying (``copy_prob``): ``<text><|de|><|transcribe|> -> same text`` — a frozen LLM that cannot
  repeat its input can never transcribe speech through an adapter,
- text translation between every pair of languages (``mt_prob``):
  ``<text><|de|><|translate|><|en|> -> English``,
- optionally plain monolingual text (``lm_prob``; the loss covers every token of every example).

The defaults (0.6 / 0.4 / 0.0) come from a comparison on the embedded corpus: with a fifth of the
examples spent on plain text (0.35 / 0.45 / 0.2) the same 1,200 steps left the LLM copying with 9.7%
error (the floor of any frozen-LLM stage) and translating at 66.7 BLEU, against 4.1% and 80.9.

A row of the corpus holds the languages it has (``{"id": ..., "it": ..., "en": ...}``); a translation
example goes from one of them to another, a row of one language only gives copy (and plain-text) examples.

``--init_llm DIR`` continues a trained LLM instead of making a new one (stage 3 of a recipe that starts
from the embedded recipe's models): its tokenizer is extended to the corpus and the prompts (new
characters, new language tags: :mod:`part.model.vocab`, recorded in ``vocab_extension.json``), its
embeddings grow with it, and it trains on the corpus with the same examples; the model options of the
config (sizes, vocabulary) do not apply then, only the training ones.

The result is a normal Hugging Face model directory (config.json, weights, tokenizer) that the
speech stages load exactly as they would load Qwen2.5 from a local directory. ``metrics.json`` holds the
held-out copy accuracy and xx->en translation BLEU; an LLM that cannot copy is warned about
(:func:`part.checks.copy_check`).

    python -m part.bin.pretrain_llm --text data/lm_text/train.jsonl --valid_text data/lm_text/dev.jsonl \\
        --prompts conf/prompts.yaml --config conf/llm.yaml --out_dir exp/llm
    python -m part.bin.pretrain_llm --init_llm ../mini_multilingual/exp/llm --text data/lm_text/train.jsonl \\
        --valid_text data/lm_text/dev.jsonl --prompts conf/embedded/prompts.yaml \\
        --config conf/embedded/llm.yaml --out_dir exp/llm

Resumable: a checkpoint is written atomically every ``--save_every`` steps, and a re-run continues
from it; a finished directory (``.done``) is skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from part.checks import copy_check, greedy_continuation, prompt_ids_with_text
from part.data.prompts import load_prompts, render
from part.fileio import atomic_path

DEFAULTS = dict(
    vocab_size=2000, hidden_size=256, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=768,
    max_len=160, steps=1500, batch_size=64, lr=2e-3, warmup=100, weight_decay=0.01,
    copy_prob=0.6, mt_prob=0.4, lm_prob=0.0, seed=1,
)
# What describes a new model: taken from the LLM itself with --init_llm.
MODEL_KEYS = ("vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "intermediate_size")


def read_corpus(path: str) -> List[Dict[str, str]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not a JSON object ({exc})") from None
    if not rows:
        raise ValueError(f"{path}: no sentences")
    return rows


def language_codes(rows: List[Dict[str, str]]) -> List[str]:
    """Every language of the corpus (a row may hold only some of them)."""
    return sorted({k for row in rows for k in row if k != "id"})


def row_languages(row: Dict[str, str], langs: List[str]) -> List[str]:
    return [lang for lang in langs if row.get(lang)]


def train_tokenizer(rows, langs: List[str], vocab_size: int, out_dir: Path):
    """A SentencePiece-style BPE tokenizer (the ``tokenizers`` implementation) saved for AutoTokenizer."""
    from tokenizers import SentencePieceBPETokenizer
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|transcribe|>", "<|translate|>"] + [f"<|{lang}|>" for lang in langs]
    bpe = SentencePieceBPETokenizer(add_prefix_space=True)
    bpe.train_from_iterator((row[lang] for row in rows for lang in langs), vocab_size=vocab_size, min_frequency=2,
                            special_tokens=specials, limit_alphabet=6000, show_progress=False)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                        pad_token="<pad>", additional_special_tokens=specials[4:])
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer


class ExampleSampler:
    """Draws copy / translation / LM examples, tokenised segment by segment like the speech tasks."""

    def __init__(self, rows, langs, prompts, tokenizer, conf, rng: random.Random):
        self.rows, self.langs, self.prompts, self.tok, self.conf, self.rng = rows, langs, prompts, tokenizer, conf, rng
        self.eos = tokenizer.eos_token_id
        self._cache: Dict[str, List[int]] = {}

    def encode(self, text: str) -> List[int]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self.tok.encode(text, add_special_tokens=False)
            if len(self._cache) < 500_000:
                self._cache[text] = ids
        return ids

    def prompt_ids(self, task: str, src: str, tgt: str, source_ids: List[int]) -> List[int]:
        # The source text stands where the speech will: tokenised apart from the prompt, as in training.
        return prompt_ids_with_text(self.encode, render(self.prompts[task], src, tgt), source_ids)

    def sample(self) -> List[int]:
        row = self.rng.choice(self.rows)
        have = row_languages(row, self.langs)
        src = self.rng.choice(have)
        source = self.encode(row[src])
        r = self.rng.random() * (self.conf["copy_prob"] + self.conf["mt_prob"] + self.conf["lm_prob"])
        if r < self.conf["copy_prob"] or (r < self.conf["copy_prob"] + self.conf["mt_prob"] and len(have) == 1):
            ids = self.prompt_ids("asr", src, src, source) + source
        elif r < self.conf["copy_prob"] + self.conf["mt_prob"]:
            tgt = self.rng.choice([lang for lang in have if lang != src])
            ids = self.prompt_ids("s2tt", src, tgt, source) + self.encode(row[tgt])
        else:
            ids = source
        return (ids + [self.eos])[: self.conf["max_len"]]

    def batch(self, size: int):
        import torch

        seqs = [self.sample() for _ in range(size)]
        longest = max(len(s) for s in seqs)
        input_ids = torch.full((size, longest), self.tok.pad_token_id, dtype=torch.long)
        labels = torch.full((size, longest), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            input_ids[i, : len(s)] = torch.tensor(s)
            labels[i, : len(s)] = torch.tensor(s)
        return input_ids, labels, (labels != -100).long()


def build_model(conf: dict, tokenizer):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=conf["hidden_size"], intermediate_size=conf["intermediate_size"],
        num_hidden_layers=conf["num_layers"], num_attention_heads=conf["num_heads"],
        num_key_value_heads=conf["num_kv_heads"], max_position_embeddings=1024, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    return Qwen2ForCausalLM(config)


def evaluate(model, sampler: ExampleSampler, rows, langs, n: int = 40) -> Dict[str, float]:
    """Greedy copy accuracy (warned about when near 0: :func:`part.checks.copy_check`) and xx->en
    translation BLEU on held-out sentences."""
    import sacrebleu
    import torch

    model.eval()
    copies, hyps, refs = [], [], []
    with torch.no_grad():
        for k in range(n):
            row = rows[k % len(rows)]
            have = row_languages(row, langs)
            src = have[k % len(have)]
            copies.append((render(sampler.prompts["asr"], src, src), row[src]))
            if src != "en" and row.get("en"):
                ids = sampler.prompt_ids("s2tt", src, "en", sampler.encode(row[src]))
                hyps.append(greedy_continuation(model, sampler.tok, ids, 80))
                refs.append(row["en"])
        copied = copy_check(model, sampler.tok, copies, where="the LLM's held-out sentences")
    model.train()
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score if hyps else float("nan")
    return {"copy_exact": copied.exact_percent, "mt_xx_en_bleu": bleu}


def content_id(path: Path) -> str:
    """A hash of a file (the inputs that decide whether a finished LLM is still the one asked for)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def base_identity(init_llm: Path) -> Dict[str, str]:
    """What a continued LLM depends on besides its options: the base model's files."""
    return {"init_llm": str(init_llm.resolve()),
            **{name: content_id(init_llm / name) for name in ("config.json", "tokenizer.json", "model.safetensors")
               if (init_llm / name).is_file()}}


def continued_model(init_llm: Path, out: Path, rows, valid_rows, langs: List[str], prompts: Dict[str, str]):
    """The base LLM with its vocabulary extended to the corpus and prompts (tokenizer saved in ``out``)."""
    from transformers import AutoModelForCausalLM

    from part.model.vocab import extend_embeddings, extend_tokenizer

    texts = [row[lang] for rs in (rows, valid_rows) for row in rs for lang in row_languages(row, langs)]
    rendered = [render(template, src, tgt) for task, template in prompts.items() for src in langs for tgt in langs
                if (src == tgt) == (task == "asr")]
    tokenizer, extension = extend_tokenizer(init_llm, out, texts, rendered)
    model = AutoModelForCausalLM.from_pretrained(str(init_llm), dtype="float32")
    extend_embeddings(model, extension)
    extension.save(out)
    return model, tokenizer


def save_atomic(obj, path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="Parallel training corpus (JSON lines: {id, en, de, ...})")
    parser.add_argument("--valid_text", required=True, help="Held-out parallel sentences for evaluation")
    parser.add_argument("--prompts", required=True, help="Prompt templates (conf/prompts.yaml)")
    parser.add_argument("--config", help="YAML with model and training options (keys: " + ", ".join(DEFAULTS) + ")")
    parser.add_argument("--out_dir", required=True)
    parser.add_argument("--init_llm", help="Continue this trained LLM (a directory this script wrote) on --text "
                                           "instead of making a new one; its vocabulary is extended as needed")
    parser.add_argument("--save_every", type=int, default=200, help="Checkpoint interval in steps")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key}", type=type(value), default=None, help=f"(default {value})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (pretrain_llm) %(levelname)s: %(message)s")

    import torch
    from tqdm import tqdm

    conf = dict(DEFAULTS)
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            user = yaml.safe_load(f) or {}
        unknown = set(user) - set(DEFAULTS)
        if unknown:
            sys.exit(f"pretrain_llm: {args.config}: unknown key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
        if args.init_llm and set(user) & set(MODEL_KEYS):
            sys.exit(f"pretrain_llm: {args.config}: {sorted(set(user) & set(MODEL_KEYS))} describe a new model; with "
                     f"--init_llm the model is {args.init_llm} (remove them, or pretrain from scratch)")
        conf.update(user)
    conf.update({k: v for k, v in vars(args).items() if k in DEFAULTS and v is not None})
    if args.threads:
        torch.set_num_threads(args.threads)

    init_llm = Path(args.init_llm) if args.init_llm else None
    if init_llm is not None and not (init_llm / "config.json").is_file():
        sys.exit(f"pretrain_llm: --init_llm {init_llm}: no config.json there (a finished exp/llm of a recipe)")
    # The identity of the result: the options, and with --init_llm also the base model and the corpus.
    identity = conf if init_llm is None else {
        **conf, **base_identity(init_llm), "text": content_id(Path(args.text)),
        "valid_text": content_id(Path(args.valid_text)), "prompts": load_prompts(args.prompts)}
    out = Path(args.out_dir)
    done = out / ".done"
    if done.is_file() and json.loads(done.read_text()) == identity:
        logging.info("%s is complete with these options; skipping (delete %s to redo)", out, done)
        return 0
    if done.is_file():
        logging.info("options or inputs changed since %s was trained: training again", out)
        done.unlink()
        (out / "checkpoint.pt").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)

    rows = read_corpus(args.text)
    valid_rows = read_corpus(args.valid_text)
    langs = language_codes(rows)
    prompts = load_prompts(args.prompts)
    random.seed(conf["seed"])
    torch.manual_seed(conf["seed"])
    ckpt_path = out / "checkpoint.pt"
    resume = torch.load(ckpt_path, weights_only=False) if ckpt_path.is_file() else None
    if resume is not None and resume.get("conf") != identity:
        logging.info("checkpoint was made with other options: starting over")
        resume = None
    if init_llm is not None:
        model, tokenizer = continued_model(init_llm, out, rows, valid_rows, langs, prompts)
    else:
        if resume is None or not (out / "tokenizer.json").is_file():
            tokenizer = train_tokenizer(rows, langs, conf["vocab_size"], out)
        else:
            from part.model.llm import load_tokenizer

            tokenizer = load_tokenizer(str(out))
        model = build_model(conf, tokenizer)
    optim = torch.optim.AdamW(model.parameters(), lr=conf["lr"], weight_decay=conf["weight_decay"],
                              betas=(0.9, 0.98))

    def lr_at(step):  # linear warm-up, cosine decay to 10%
        if step < conf["warmup"]:
            return conf["lr"] * (step + 1) / conf["warmup"]
        progress = (step - conf["warmup"]) / max(1, conf["steps"] - conf["warmup"])
        return conf["lr"] * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    rng = random.Random(conf["seed"])
    start, history = 0, []
    if resume is not None:
        model.load_state_dict(resume["model"])
        optim.load_state_dict(resume["optim"])
        rng.setstate(resume["rng"])
        torch.set_rng_state(resume["torch_rng"])
        start, history = resume["step"], resume["history"]
        logging.info("resumed from %s at step %d", ckpt_path, start)
    sampler = ExampleSampler(rows, langs, prompts, tokenizer, conf, rng)
    n_params = sum(p.numel() for p in model.parameters())
    logging.info("LLM: %.2fM parameters, vocabulary %d, languages %s", n_params / 1e6, len(tokenizer), langs)

    model.train()
    t0 = time.time()
    bar = tqdm(range(start, conf["steps"]), initial=start, total=conf["steps"], desc="pretrain LLM", unit="step")
    for step in bar:
        input_ids, labels, mask = sampler.batch(conf["batch_size"])
        for group in optim.param_groups:
            group["lr"] = lr_at(step)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optim.step()
        history.append(float(loss))
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % args.save_every == 0 and step + 1 < conf["steps"]:
            save_atomic({"model": model.state_dict(), "optim": optim.state_dict(), "rng": rng.getstate(),
                         "torch_rng": torch.get_rng_state(), "step": step + 1, "history": history, "conf": identity},
                        ckpt_path)
    logging.info("trained %d steps in %.0f s", conf["steps"] - start, time.time() - t0)

    metrics = evaluate(model, sampler, valid_rows, langs)
    logging.info("held-out: copy exact match %.1f%%, xx->en text translation BLEU %.1f",
                 metrics["copy_exact"], metrics["mt_xx_en_bleu"])
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    _plot_loss(history, out / "loss.png")
    ckpt_path.unlink(missing_ok=True)
    done.write_text(json.dumps(identity))
    return 0


def _plot_loss(history: List[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    window = max(1, len(history) // 50)
    smooth = [sum(history[max(0, i - window):i + 1]) / len(history[max(0, i - window):i + 1])
              for i in range(len(history))]
    ax.plot(history, alpha=0.3, label="loss")
    ax.plot(smooth, label=f"running mean ({window})")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL")
    ax.set_title("in-recipe LLM training")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
