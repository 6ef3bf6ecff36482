"""Tiny models and data for tests: a random Qwen2 LLM with a small trained tokenizer, tiny encoder
configurations, a tiny speech-LLM, and a tiny feature + task dir for ESPnet training runs.

Everything here is random and small (hidden 32, 1-2 layers), so a forward/backward pass takes
milliseconds on CPU. Other test modules may import these builders::

    from helpers_tiny import make_tiny_llm, build_tiny_speech_llm, make_task_dir, part_train_args

    llm_dir = make_tiny_llm(tmp_path / "llm")
    model, tokenizer = build_tiny_speech_llm(llm_dir, adapter="linear")
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

for _key, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1")):
    os.environ.setdefault(_key, _value)
os.environ.setdefault("NLTK_DATA", str(Path(__file__).resolve().parents[1] / "tools" / "nltk_data"))

REPO = Path(__file__).resolve().parents[1]
FEAT_DIM = 80
# The environment of a subprocess that trains or decodes: offline, the checkout importable, and one
# thread (a run compared with it bit for bit runs on one thread too: see conftest.one_thread).
SUBPROCESS_ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
                      NLTK_DATA=str(REPO / "tools" / "nltk_data"), PYTHONPATH=str(REPO))

# A small parallel corpus: the tokenizer is trained on it and the task dirs use it as targets.
SENTENCES: List[Dict[str, str]] = [
    {"id": "s1", "en": "the cat sat on the mat", "de": "die katze sass auf der matte"},
    {"id": "s2", "en": "a dog runs in the park", "de": "ein hund rennt im park"},
    {"id": "s3", "en": "we eat bread and cheese", "de": "wir essen brot und kaese"},
    {"id": "s4", "en": "the sun is warm today", "de": "die sonne ist heute warm"},
    {"id": "s5", "en": "my friend reads a book", "de": "mein freund liest ein buch"},
    {"id": "s6", "en": "the train is late again", "de": "der zug ist wieder spaet"},
]
LANGS = ["de", "en"]

PROMPTS = {
    "asr": "<speech><|{src}|><|transcribe|>",
    "s2tt": "<speech><|{src}|><|translate|><|{tgt}|>",
    "mt": "{text}<|{src}|><|translate|><|{tgt}|>",
}

TINY_LLM_CONF = dict(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=2, num_kv_heads=1)

TINY_CONFORMER = dict(output_size=32, attention_heads=2, linear_units=64, num_blocks=2, input_layer="conv2d",
                      cnn_module_kernel=3, dropout_rate=0.0, positional_dropout_rate=0.0,
                      attention_dropout_rate=0.0, rel_pos_type="latest")

TINY_WHISPER = dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
                    decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, num_mel_bins=FEAT_DIM,
                    max_source_positions=100, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0)

TINY_ADAPTERS = {
    "transformer_cnn": dict(stride=2, num_layers=1, d_model=32, num_heads=2, ffn_dim=64, dropout=0.0),
    "linear": dict(stride=2, hidden_dim=32),
    "conv1d": dict(stride=2, hidden_dim=32),
    "ctc_posterior": dict(hidden_dim=32),
}


# A toy parallel vocabulary: LLMs that must decode to varied text (inference, export) learn their
# tokenizer from random sentences over it (:func:`word_rows`).
WORDS = {"en": "the a cat dog sat ran on under mat table red big small house".split(),
         "de": "die eine katze hund sass lief auf unter matte tisch rote grosse kleine haus".split()}


def word_rows(n: int = 60, seed: int = 0) -> List[Dict[str, str]]:
    """``n`` parallel de/en rows of 3 to 8 random :data:`WORDS` each, numbered so that no two are equal."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        idx = rng.integers(0, len(WORDS["en"]), size=int(rng.integers(3, 9)))
        rows.append({lang: " ".join(WORDS[lang][j] for j in idx) + f" {i}" for lang in ("de", "en")})
    return rows


def spread_weights(module, gain: float = 2.0) -> None:
    """Random weights large enough that greedy search does not repeat one token forever."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                p.normal_(0.0, gain / p.size(-1) ** 0.5)


def make_tiny_llm(out_dir: Path, vocab_size: int = 200, seed: int = 0, rows: Optional[List[Dict[str, str]]] = None,
                  spread: float = 0.0, **model_conf) -> Path:
    """Write a random Qwen2 causal LM and its tokenizer (trained on ``rows``) into ``out_dir``.

    The result is a normal Hugging Face model directory, loadable with ``part.model.llm.load_llm`` /
    ``load_tokenizer`` and usable as ``--llm_path``. ``spread``: the gain of :func:`spread_weights` (0:
    the initialisation of transformers). Returns ``out_dir``.
    """
    import torch

    from part.bin.pretrain_llm import build_model, train_tokenizer

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = rows or SENTENCES
    langs = sorted(k for k in rows[0] if k != "id")
    tokenizer = train_tokenizer(rows, langs, vocab_size, out_dir)
    conf = dict(TINY_LLM_CONF)
    conf.update(model_conf)
    torch.manual_seed(seed)
    model = build_model(conf, tokenizer)
    if spread:
        spread_weights(model, spread)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


_SHARED_LLMS: Dict[tuple, Path] = {}


def shared_tiny_llm(tmp_path_factory, **kwargs) -> Path:
    """``make_tiny_llm`` once per test session and set of options (the directory is read-only by convention)."""
    key = tuple(sorted(kwargs.items()))
    if key not in _SHARED_LLMS or not (_SHARED_LLMS[key] / "config.json").is_file():
        _SHARED_LLMS[key] = make_tiny_llm(tmp_path_factory.mktemp("tiny_llm"), **kwargs)
    return _SHARED_LLMS[key]


def make_decoding_llm(out_dir: Path) -> Path:
    """A tiny LLM whose greedy search says something other than one token forever: 4 heads, a 300-token
    tokenizer of :func:`word_rows`, spread weights."""
    return make_tiny_llm(out_dir, vocab_size=300, rows=word_rows(), spread=2.0, num_heads=4, num_kv_heads=2)


def build_tiny_speech_llm(llm_dir: Path, adapter: str = "linear", adapter_conf: Optional[dict] = None,
                          encoder: str = "conformer", encoder_conf: Optional[dict] = None, lora: bool = False,
                          lora_conf: Optional[dict] = None, ctc_vocab: bool = False, seed: int = 0):
    """A ``SpeechLLM`` (tiny encoder + adapter + the LLM of ``llm_dir``) and the LLM's tokenizer.

    Every parameter is left with ``requires_grad=False`` except those of the encoder and adapter, as built;
    tests choose what trains with ``part.schedule.apply_trainable``.
    """
    import torch

    from part.model.adapters import build_adapter
    from part.model.encoders import build_encoder
    from part.model.llm import add_lora, load_llm, load_tokenizer
    from part.model.speech_llm import SpeechLLM

    tokenizer = load_tokenizer(str(llm_dir))
    llm = load_llm(str(llm_dir))
    if lora:
        llm = add_lora(llm, **(lora_conf or dict(r=4, alpha=8, dropout=0.0)))
    torch.manual_seed(seed)
    if encoder_conf is None:
        encoder_conf = TINY_CONFORMER if encoder == "conformer" else dict(config=TINY_WHISPER)
    enc = build_encoder(encoder, FEAT_DIM, encoder_conf, ctc_vocab_size=len(tokenizer) if ctc_vocab else None)
    conf = TINY_ADAPTERS[adapter] if adapter_conf is None else adapter_conf
    adp = build_adapter(adapter, enc.output_size, llm.get_input_embeddings().weight.size(1), conf)
    model = SpeechLLM(enc, adp, llm, eos_id=tokenizer.eos_token_id)
    return model, tokenizer


def pad_ids(seqs: Sequence[Sequence[int]], pad: int = -1):
    """Right-padded ``(B, L)`` long tensor (ESPnet's collate pads ints with -1) and lengths."""
    import torch

    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.full((len(seqs), max(int(lengths.max()), 1)), pad, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(list(s), dtype=torch.long)
    return out, lengths


def make_feats_dir(root: Path, num_utts: int = 6, frames=(40, 64), seed: int = 0, translations: bool = True,
                   rows: Optional[List[Dict[str, str]]] = None, langs: Sequence[str] = LANGS) -> Path:
    """A stage-2 style feature dir (kaldiio ark/scp of random fbank-like features, text, utt2lang, text.en);
    utterance i speaks ``rows[i % len(rows)]`` in ``langs[i % len(langs)]`` with ``frames`` (min, max) frames."""
    import kaldiio

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = rows or SENTENCES
    utts = {}
    for i in range(num_utts):
        row = rows[i % len(rows)]
        lang = langs[i % len(langs)]
        uid = f"spk{i % 2}-utt{i:03d}"
        n = int(rng.integers(frames[0], frames[1] + 1))
        utts[uid] = (row, lang, (rng.standard_normal((n, FEAT_DIM)) * 0.5 + 1.0).astype(np.float32))
    kaldiio.save_ark(str(root / "feats.ark"), {u: v[2] for u, v in utts.items()}, scp=str(root / "feats.scp"))
    files = {"utt2num_frames": [], "text": [], "utt2lang": [], "text.en": []}
    for uid in sorted(utts):
        row, lang, feats = utts[uid]
        files["utt2num_frames"].append(f"{uid} {feats.shape[0]}")
        files["text"].append(f"{uid} {row[lang]}")
        files["utt2lang"].append(f"{uid} {lang}")
        if lang != "en":
            files["text.en"].append(f"{uid} {row['en']}")
    if not translations:
        del files["text.en"]
    for name, lines in files.items():
        (root / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (root / "feat_dim").write_text(f"{FEAT_DIM}\n")
    return root


def make_task_dir(root: Path, tasks: Sequence[str] = ("asr",), num_utts: int = 6, seed: int = 0) -> Path:
    """Feature dir + stage-3 task dir (``part.data.examples``) under ``root``; returns the task dir."""
    from part.data.examples import build_examples, write_task_dir

    root = Path(root)
    feats = make_feats_dir(root / "fbank", num_utts=num_utts, seed=seed, translations="asr" != tuple(tasks))
    out = root / "tasks"
    write_task_dir(build_examples(feats, PROMPTS, list(tasks), ["*-en"]), out, FEAT_DIM)
    return out


def make_training_world(root: Path, config: str, num_train: int = 6, num_valid: int = 2) -> Dict[str, Path]:
    """What a ``part_train`` run of the tiny model reads, below ``root``: a one-layer LLM (``llm``), ASR task
    dirs (``train``, and ``valid`` with another seed) and the YAML text ``config`` as ``conf/stage.yaml``.
    Returns those paths and ``root`` by name."""
    root = Path(root)
    config_path = root / "conf" / "stage.yaml"
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(config, encoding="utf-8")
    return dict(root=root, llm=make_tiny_llm(root / "llm", num_layers=1),
                train=make_task_dir(root / "train", num_utts=num_train),
                valid=make_task_dir(root / "valid", num_utts=num_valid, seed=1), config=config_path)


def part_train_args(train_dir: Path, valid_dir: Path, llm_dir: Path, out_dir: Path, **options) -> List[str]:
    """A ``part_train`` command line for the tiny model; ``options`` (name=value) are appended as
    ``--name value`` (dicts as YAML-ish ``key=value`` lists are not supported: pass strings)."""
    args = [
        "--llm_path", str(llm_dir), "--output_dir", str(out_dir),
        "--train_data_path_and_name_and_type", f"{train_dir}/feats.scp,speech,kaldi_ark",
        "--train_data_path_and_name_and_type", f"{train_dir}/prompt,prompt,text",
        "--train_data_path_and_name_and_type", f"{train_dir}/text,text,text",
        "--train_shape_file", f"{train_dir}/speech_shape",
        "--valid_data_path_and_name_and_type", f"{valid_dir}/feats.scp,speech,kaldi_ark",
        "--valid_data_path_and_name_and_type", f"{valid_dir}/prompt,prompt,text",
        "--valid_data_path_and_name_and_type", f"{valid_dir}/text,text,text",
        "--valid_shape_file", f"{valid_dir}/speech_shape",
        "--ngpu", "0", "--num_workers", "0", "--use_tensorboard", "false", "--use_matplotlib", "false",
        "--batch_type", "folded", "--batch_size", "2", "--fold_length", "1000",
        "--optim", "adam", "--optim_conf", "lr=0.01", "--seed", "0", "--log_interval", "1",
        "--encoder", "conformer",
        "--encoder_conf", "output_size=32", "--encoder_conf", "attention_heads=2",
        "--encoder_conf", "linear_units=64", "--encoder_conf", "num_blocks=2",
        "--encoder_conf", "cnn_module_kernel=3", "--encoder_conf", "dropout_rate=0.0",
        "--encoder_conf", "positional_dropout_rate=0.0", "--encoder_conf", "attention_dropout_rate=0.0",
        "--encoder_conf", "rel_pos_type=latest",
        "--speech_adapter", "linear", "--speech_adapter_conf", "stride=2", "--speech_adapter_conf", "hidden_dim=32",
    ]
    for key, value in options.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            args += [f"--{key}", str(v)]
    return args


# ----------------------------------------------------------------------------------------------
# Raw audio (stage 2 with --feats_type raw: part.bin.pack_shards, features on the fly)


def tone_and_noise(num_samples: int, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Mono float32 audio that every front end finds non-silent: a tone whose pitch depends on ``seed``,
    plus noise, within [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    tone = 0.3 * np.sin(2 * np.pi * (180 + 37 * (seed % 11)) * t)
    return (tone + 0.05 * rng.standard_normal(num_samples)).astype(np.float32)


def make_audio_data_dir(root: Path, name: str, num_utts: int, seed: int = 0, langs: Sequence[str] = LANGS,
                        seconds=(0.25, 0.75), audio_format: str = "wav") -> Path:
    """A Kaldi data dir ``root/data/<name>`` over real audio files in ``root/audio/<name>/`` (absolute paths).

    Utterance i (``spk<i % 3>-<name><i>``) speaks ``SENTENCES[i % 6]`` in ``langs[i % len(langs)]`` for
    ``seconds`` (min, max, uniform) of :func:`tone_and_noise`, written as 16-bit ``wav`` or ``flac``.
    Non-English utterances have an English translation (``text.en``), English ones a German one
    (``text.de``), so that both ``*-en`` and ``en-*`` directions have examples.
    """
    import soundfile

    root = Path(root)
    data, audio = root / "data" / name, root / "audio" / name
    data.mkdir(parents=True, exist_ok=True)
    audio.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = {}
    for i in range(num_utts):
        lang, sentence = langs[i % len(langs)], SENTENCES[i % len(SENTENCES)]
        utt = f"spk{i % 3}-{name}{i:04d}"
        path = audio / f"{utt}.{audio_format}"
        samples = tone_and_noise(int(rng.uniform(*seconds) * 16000), seed * 100003 + i)
        soundfile.write(str(path), samples, 16000, subtype="PCM_16")
        tgt = "de" if lang == "en" else "en"
        rows[utt] = (str(path), sentence[lang], lang, tgt, sentence[tgt])
    utts = sorted(rows)

    def write(file_name: str, lines: Sequence[str]) -> None:
        (data / file_name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    write("wav.scp", [f"{u} {rows[u][0]}" for u in utts])
    write("text", [f"{u} {rows[u][1]}" for u in utts])
    write("utt2lang", [f"{u} {rows[u][2]}" for u in utts])
    write("utt2spk", [f"{u} {u.split('-')[0]}" for u in utts])
    speakers = sorted({u.split("-")[0] for u in utts})
    write("spk2utt", [f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}" for s in speakers])
    for tgt in sorted({row[3] for row in rows.values()}):
        write(f"text.{tgt}", [f"{u} {rows[u][4]}" for u in utts if rows[u][3] == tgt])
    return data


def write_prompts(path: Path) -> Path:
    """``PROMPTS`` as a ``conf/prompts.yaml`` (JSON is YAML)."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(PROMPTS), encoding="utf-8")
    return path


EXAMPLE_LIST_OPTIONS = ("--train_data_path_and_name_and_type", "--valid_data_path_and_name_and_type",
                        "--train_shape_file", "--valid_shape_file")


def raw_train_args(train_shards: Path, valid_shards: Path, prompts: Path, llm_dir: Path, out_dir: Path,
                   **options) -> List[str]:
    """``part_train_args`` for the raw-audio path: ``--train_shards``/``--valid_shards`` and ``--prompts``
    instead of the example lists (``options`` as in ``part_train_args``; ``data_conf`` etc. may repeat)."""
    args = part_train_args(Path("unused"), Path("unused"), llm_dir, out_dir, **options)
    kept, i = [], 0
    while i < len(args):
        if args[i] in EXAMPLE_LIST_OPTIONS:
            i += 2
            continue
        kept.append(args[i])
        i += 1
    return kept + ["--train_shards", str(train_shards), "--valid_shards", str(valid_shards), "--prompts", str(prompts)]
