"""Decoding (SpeechLLM.generate, part.inference, python -m part.bin.part_inference) on tiny random models.

- batched greedy / beam search equals decoding one example at a time (speech of very different
  lengths, ASR / S2TT / text-only MT mixed, prompts of different lengths), for two adapters;
- beam size 1 is greedy search; beam search finds a hypothesis at least as probable as greedy's;
- length limits, the looping guard, stopping at EOS and at task/language tags (a scripted LLM forces
  the tokens), min_new_tokens;
- ``--nj 2`` gives the same decode dirs as ``--nj 1``; the Python API on an experiment dir.
"""
from __future__ import annotations

import argparse
import json
import os
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("NLTK_DATA", str(Path(__file__).resolve().parents[1] / "tools" / "nltk_data"))

from helpers_tiny import make_decoding_llm, spread_weights  # noqa: E402
from part.bin import part_inference  # noqa: E402
from part.data.batch import ExamplePreprocessor, collate  # noqa: E402
from part.data.prompts import escape, render  # noqa: E402
from part.inference import SpeechToText, load_model, stop_token_ids  # noqa: E402
from part.model.adapters import build_adapter  # noqa: E402
from part.model.encoders import build_encoder  # noqa: E402
from part.model.search import Search, cache_of, is_looping, llm_forward_params  # noqa: E402
from part.model.speech_llm import SpeechLLM  # noqa: E402

PROMPTS = {"asr": "<speech><|{src}|><|transcribe|>", "s2tt": "<speech><|{src}|><|translate|><|{tgt}|>",
           "mt": "{text}<|{src}|><|translate|><|{tgt}|>"}
ENCODER_CONF = dict(output_size=32, attention_heads=2, linear_units=64, num_blocks=2, cnn_module_kernel=7)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A recipe-like tree: exp/tiny_llm (random Qwen2 + tokenizer) and exp/part/phase1 (config.yaml + model)."""
    root = tmp_path_factory.mktemp("recipe")
    llm_dir = make_decoding_llm(root / "exp" / "tiny_llm")
    config = dict(model_type="speech_llm", llm_path="exp/tiny_llm", llm_conf={}, tokenizer_path=None, lora_conf={},
                  encoder="conformer", encoder_conf=ENCODER_CONF, encoder_path=None,
                  encoder_model_file="valid.loss.best.pth", input_size=80, speech_adapter="ctc_posterior",
                  speech_adapter_conf={"hidden_dim": 32}, ctc_vocab=True, schedule_conf={}, save_llm_base=False)
    from part.tasks.part_task import PARTTask

    model = PARTTask.build_model(argparse.Namespace(**{**config, "llm_path": str(llm_dir)}))
    exp = root / "exp" / "part" / "phase1"
    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), exp / "valid.acc.ave.pth")
    old = os.getcwd()
    os.chdir(root)  # the recipe dir: config.yaml's llm_path is relative to it
    try:
        model, tokenizer, _ = load_model(str(exp))
    finally:
        os.chdir(old)
    return types.SimpleNamespace(root=root, exp=exp, model=model, tokenizer=tokenizer, llm_dir=llm_dir)


def _examples():
    """(features, rendered prompt) of ASR, S2TT and text-only MT examples of very different lengths."""
    rng = np.random.default_rng(1)

    def feats(n):
        return rng.standard_normal((n, 80)).astype(np.float32)

    empty = np.zeros((0, 80), np.float32)
    return [
        (feats(400), render(PROMPTS["asr"], "de", "de")),
        (empty, render(PROMPTS["mt"], "de", "en", "die rote katze sass auf der grossen matte unter dem tisch")),
        (feats(23), render(PROMPTS["asr"], "en", "en")),
        (feats(180), render(PROMPTS["s2tt"], "de", "en")),
        (empty, render(PROMPTS["mt"], "en", "de", "a cat")),
        (feats(57), render(PROMPTS["s2tt"], "en", "de")),
        (feats(311), render(PROMPTS["asr"], "en", "en")),
    ]


def _batch(tokenizer, examples):
    """The model inputs of (features, rendered prompt) examples, built by the training input path."""
    preprocess = ExamplePreprocessor(tokenizer=tokenizer)
    return collate([(str(i), preprocess(str(i), {"speech": f, "prompt": escape(p)}))
                    for i, (f, p) in enumerate(examples)])[1]


def _generation_inputs(model, tokenizer, examples):
    """Left-padded input embeddings and mask, as generate() builds them."""
    return model.build_inputs(**_batch(tokenizer, examples), left_pad=True, encode_one_by_one=True)[:2]


def _generate(model, tokenizer, examples, **kwargs):
    kwargs.setdefault("max_new_tokens", 12)
    return model.generate(**_batch(tokenizer, examples), return_scores=True, **kwargs)


def _transformer_cnn_model(world):
    torch.manual_seed(3)
    encoder = build_encoder("conformer", 80, ENCODER_CONF)
    adapter = build_adapter("transformer_cnn", 32, 32, dict(d_model=32, num_heads=2, ffn_dim=64, stride=2))
    spread_weights(adapter, 1.0)
    tok = world.tokenizer
    return SpeechLLM(encoder, adapter, world.model.llm, tok.eos_token_id).eval()


@pytest.mark.parametrize("adapter", ["ctc_posterior", "transformer_cnn"])
def test_batched_equals_one_at_a_time(world, adapter):
    model = world.model if adapter == "ctc_posterior" else _transformer_cnn_model(world)
    examples = _examples()
    stops = stop_token_ids(world.tokenizer)
    for kwargs in ({}, {"stop_ids": stops, "max_repeat_ngram": 2}, {"beam_size": 3},
                   {"beam_size": 3, "stop_ids": stops, "length_penalty": 1.0, "max_repeat_ngram": 2}):
        hyps, scores = _generate(model, world.tokenizer, examples, **kwargs)
        if "stop_ids" in kwargs:  # examples end at different steps: finished rows leave the batch
            assert len({len(h) for h in hyps}) > 1
        for i, example in enumerate(examples):
            one_hyps, one_scores = _generate(model, world.tokenizer, [example], **kwargs)
            assert one_hyps[0] == hyps[i], (kwargs, i)
            assert one_scores[0] == pytest.approx(scores[i], abs=1e-3)
        assert all(np.isfinite(scores))
    # the plain run generated real output (no stop ids but EOS): not a trivially empty comparison
    hyps, _ = _generate(model, world.tokenizer, examples)
    assert sum(len(h) for h in hyps) > 4 * len(examples)
    assert len({tuple(h) for h in hyps}) > 1


def test_generation_inputs_left_padded(world):
    examples = _examples()
    batch = _batch(world.tokenizer, examples)
    inputs, mask = _generation_inputs(world.model, world.tokenizer, examples)
    assert inputs.shape[:2] == mask.shape
    assert (mask[:, -1] == 1).all()  # right-aligned
    lengths = mask.sum(1)
    assert bool(((mask.cumsum(1) > 0).long() == mask).all())  # padding only on the left
    prefix_lengths = batch["prefix_lengths"]
    assert lengths[1] == prefix_lengths[1] and lengths[4] == prefix_lengths[4]  # text-only: the prompt alone
    assert (batch["suffix_lengths"][[1, 4]] == 0).all()
    assert torch.isfinite(inputs).all()


@torch.no_grad()
def _teacher_forced_logprob(world, example, ids, ended: bool) -> float:
    """log P(ids [+ EOS] | prompt) by one forward pass over the whole sequence, without any cache."""
    model = world.model
    inputs, _ = _generation_inputs(model, world.tokenizer, [example])
    targets = list(ids) + ([model.eos_id] if ended else [])
    embeds = torch.cat([inputs, model.token_embedding(torch.tensor([ids], dtype=torch.long))], dim=1)
    logp = model.llm(inputs_embeds=embeds).logits[0, inputs.size(1) - 1:].float().log_softmax(-1)
    return float(sum(logp[j, t] for j, t in enumerate(targets)))


def test_beam_search(world):
    examples = _examples()
    greedy, greedy_scores = _generate(world.model, world.tokenizer, examples)
    beam1, beam1_scores = _generate(world.model, world.tokenizer, examples, beam_size=1)
    assert beam1 == greedy and beam1_scores == greedy_scores
    # the beam-search code path at width 1 (length normalised or not) is greedy search
    inputs, mask = _generation_inputs(world.model, world.tokenizer, examples)
    for penalty in (0.0, 1.0):
        search = Search(world.model.llm, world.model.token_embedding, stops=[world.model.eos_id],
                        limits=[12] * len(examples), max_repeat_ngram=0, min_new_tokens=0)
        hyps, scores = search.beam(inputs, mask, 1, penalty)
        assert hyps == greedy
        assert scores == pytest.approx(greedy_scores, abs=1e-4)
    # the scores are the model's log-probabilities of the hypotheses (checks the KV-cache reordering)
    beam4, beam4_scores = _generate(world.model, world.tokenizer, examples, beam_size=4, length_penalty=0.0)
    for example, hyp, score in zip(examples, beam4, beam4_scores):
        assert score == pytest.approx(_teacher_forced_logprob(world, example, hyp, len(hyp) < 12), abs=1e-3)
    for example, hyp, score in zip(examples, greedy, greedy_scores):
        assert score == pytest.approx(_teacher_forced_logprob(world, example, hyp, len(hyp) < 12), abs=1e-3)
    assert beam4 != greedy  # the search does find other hypotheses
    # Beam search beats greedy search on the whole, but per example only if the greedy prefix stays in
    # the beam (near-uniform random LLMs are the worst case); an exhaustive beam always does.
    assert sum(beam4_scores) >= sum(greedy_scores)
    vocab = world.model.token_embedding.weight.size(0)
    greedy2, greedy2_scores = _generate(world.model, world.tokenizer, examples, max_new_tokens=2)
    beam2, beam2_scores = _generate(world.model, world.tokenizer, examples, max_new_tokens=2, beam_size=4,
                                    length_penalty=0.0)
    full, full_scores = _generate(world.model, world.tokenizer, examples, max_new_tokens=2, beam_size=vocab,
                                  length_penalty=0.0)
    for g, b, f in zip(greedy2_scores, beam2_scores, full_scores):
        assert f >= b - 1e-4 and f >= g - 1e-4 and b >= g - 1e-4


class ScriptedLLM(torch.nn.Module):
    """The tiny LLM, with ``force[n]`` made the next token of a row whose input holds ``n`` tokens."""

    def __init__(self, llm, force):
        super().__init__()
        self.inner, self.force = llm, force
        self.cache_arg = llm_forward_params(llm)[0]

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(self, inputs_embeds=None, attention_mask=None, position_ids=None, use_cache=None, cache=None,
                logits_to_keep=0):
        out = self.inner(inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids,
                         use_cache=use_cache, logits_to_keep=logits_to_keep, **{self.cache_arg: cache})
        logits = out.logits.clone()
        for row, n in enumerate(attention_mask.sum(1).tolist()):
            token = self.force(n) if callable(self.force) else self.force.get(n)
            if token is not None:
                logits[row, -1, token] = 1e4
        return types.SimpleNamespace(logits=logits, cache=cache_of(out))


def _scripted(world, force):
    m = world.model
    return SpeechLLM(m.encoder, m.adapter, ScriptedLLM(m.llm, force), m.eos_id).eval()


def _input_lengths(world, examples):
    return _generation_inputs(world.model, world.tokenizer, examples)[1].sum(1).tolist()


@pytest.mark.parametrize("beam_size", [1, 3])
def test_stops_at_eos(world, beam_size):
    examples = _examples()
    lengths = _input_lengths(world, examples)
    eos = world.tokenizer.eos_token_id
    # EOS is forced as the 4th token of every example (at a different step for each: the input lengths differ)
    model = _scripted(world, lambda n: eos if n - 3 in lengths else None)
    hyps, _ = _generate(model, world.tokenizer, examples, beam_size=beam_size, max_new_tokens=30)
    # (a row also stops where its own length happens to equal another row's input length + 3)
    for h, n in zip(hyps, lengths):
        stops = [j for j in range(31) if n + j - 3 in lengths]
        assert len(h) == stops[0] and eos not in h
    # min_new_tokens overrides the forced EOS
    hyps, _ = _generate(model, world.tokenizer, examples, beam_size=beam_size, max_new_tokens=8, min_new_tokens=8)
    assert [len(h) for h in hyps] == [8] * len(examples)


def test_asr_stops_at_task_and_language_tags(world):
    tok = world.tokenizer
    translate, lang_en = tok.convert_tokens_to_ids("<|translate|>"), tok.convert_tokens_to_ids("<|en|>")
    assert {translate, lang_en} <= set(stop_token_ids(tok))
    example = _examples()[0]  # ASR, de
    n = _input_lengths(world, [example])[0]
    word = tok.convert_tokens_to_ids(tok.tokenize(" katze")[0])
    # the scripted model transcribes two tokens, then tries to go on into an English translation
    force = {n: word, n + 1: word, n + 2: translate, n + 3: lang_en, n + 4: word}
    s2t = SpeechToText(_scripted(world, force), tok, PROMPTS, max_new_tokens=20)
    ids = s2t.decode_ids([example[0]], [example[1]])[0]
    assert ids == [word, word]
    assert "translate" not in s2t.decode_features([example[0]], [example[1]])[0]
    # without the tag stops the hypothesis runs on (the tags are special tokens, dropped from the text)
    model = _scripted(world, force)
    ids, _ = _generate(model, tok, [example], max_new_tokens=5)
    assert ids[0] == [word, word, translate, lang_en, word]


def test_length_limits(world):
    examples = _examples()
    hyps, _ = _generate(world.model, world.tokenizer, examples, max_new_tokens=7)
    assert [len(h) for h in hyps] == [7] * len(examples)  # the random LLM never emits EOS here
    lengths = _input_lengths(world, examples)
    for beam_size in (1, 2):
        hyps, _ = _generate(world.model, world.tokenizer, examples, max_new_tokens=40, max_length_ratio=0.3,
                            beam_size=beam_size)
        assert [len(h) for h in hyps] == [min(40, max(1, int(0.3 * n))) for n in lengths]
    hyps, _ = _generate(world.model, world.tokenizer, examples, max_new_tokens=0)
    assert hyps == [[]] * len(examples)


def test_looping_guard(world):
    example = _examples()[2]
    n = _input_lengths(world, [example])[0]
    a, b = 20, 21
    model = _scripted(world, lambda m: a if m >= n else None)  # the same token forever
    assert _generate(model, world.tokenizer, [example], max_new_tokens=30, max_repeat_ngram=3)[0][0] == [a] * 3
    model = _scripted(world, lambda m: (a, b)[(m - n) % 2] if m >= n else None)  # a bigram loop
    for beam_size in (1, 2):
        hyps, _ = _generate(model, world.tokenizer, [example], max_new_tokens=30, max_repeat_ngram=2,
                            beam_size=beam_size)
        assert hyps[0] == [a, b, a, b]
    assert _generate(model, world.tokenizer, [example], max_new_tokens=9, max_repeat_ngram=0)[0][0] == \
        [a, b, a, b, a, b, a, b, a]
    assert is_looping([1, 2, 3, 1, 2, 3], 2) and not is_looping([1, 2, 3, 1, 2, 4], 2)


def _task_dir(world, path: Path):
    """A stage-3 task list (dump/examples/<set>) of the test examples."""
    import kaldiio

    path.mkdir(parents=True)
    tasks = {"asr": [], "s2tt": [], "mt": []}
    for i, (feats, prompt) in enumerate(_examples()):
        task = "mt" if not feats.shape[0] else ("s2tt" if "translate" in prompt else "asr")
        tasks[task].append((f"spk-utt{i}__{task}", feats, prompt))
    mats, lines = {}, {k: [] for k in ("prompt", "text", "utt2category", "utt2lang", "utt2tgt", "speech_shape")}
    for task, items in tasks.items():
        for eid, feats, prompt in items:
            mats[eid] = feats
            for name, value in (("prompt", prompt), ("text", "die katze"), ("utt2category", task), ("utt2lang", "de"),
                                ("utt2tgt", "en"), ("speech_shape", f"{feats.shape[0]},80")):
                lines[name].append(f"{eid} {value}")
    kaldiio.save_ark(str(path / "feats.ark"), mats, scp=str(path / "feats.scp"))
    for name, rows in lines.items():
        (path / name).write_text("\n".join(sorted(rows)) + "\n")
    return path


def test_part_inference_nj(world, tmp_path, monkeypatch):
    data = _task_dir(world, tmp_path / "dump" / "examples" / "test")
    monkeypatch.chdir(world.root)
    common = ["--exp_dir", str(world.exp), "--data_dir", str(data), "--tasks", "asr,s2tt,mt", "--max_new_tokens", "10"]
    assert part_inference.main(common + ["--out_prefix", str(tmp_path / "one"), "--nj", "1", "--batch_size", "4"]) == 0
    assert part_inference.main(common + ["--out_prefix", str(tmp_path / "two"), "--nj", "2", "--batch_size", "1"]) == 0
    for task in ("asr", "s2tt", "mt"):
        one, two = tmp_path / f"one_{task}", tmp_path / f"two_{task}"
        for name in ("hyp", "ref", "utt2lang", "utt2tgt", "task"):
            assert (one / name).read_text() == (two / name).read_text(), (task, name)
        hyp = (one / "hyp").read_text().splitlines()
        assert hyp and all(line.startswith("spk-utt") for line in hyp)
        info = json.loads((two / "decode_info.json").read_text())
        assert info["nj"] == 2 and info["options"]["task"] == task
    assert json.loads((tmp_path / "one_asr" / "decode_info.json").read_text())["rtf"] > 0
    # up to date: skipped; other search options: decoded again
    stamp = (tmp_path / "one_asr" / "hyp").stat().st_mtime_ns
    assert part_inference.main(common + ["--out_prefix", str(tmp_path / "one"), "--batch_size", "4"]) == 0
    assert (tmp_path / "one_asr" / "hyp").stat().st_mtime_ns == stamp
    assert part_inference.main(common + ["--out_prefix", str(tmp_path / "one"), "--tasks", "asr",
                                         "--beam_size", "2"]) == 0
    assert json.loads((tmp_path / "one_asr" / "decode_info.json").read_text())["options"]["beam_size"] == 2


def test_speech_to_text_api(world, tmp_path, monkeypatch):
    import soundfile

    monkeypatch.chdir(tmp_path)  # away from the recipe dir: the relative llm_path is found above the exp dir
    s2t = SpeechToText.from_exp_dir(str(world.exp), prompts=PROMPTS, max_new_tokens=10)
    rng = np.random.default_rng(5)
    wave = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    soundfile.write(str(tmp_path / "a.wav"), wave, 16000, subtype="FLOAT")
    text = s2t.transcribe(wave, lang="de")
    assert isinstance(text, str) and text == s2t.transcribe(str(tmp_path / "a.wav"), lang="de")
    assert "<|" not in text
    feats = s2t.features(wave)
    assert feats.shape == (1 + (24000 - 400) // 160, 80)
    assert text == s2t.decode_features([feats], [render(PROMPTS["asr"], "de", "de")])[0]
    assert isinstance(s2t.translate(wave, src="de", tgt="en"), str)
    assert isinstance(s2t.translate_text("die katze sass", src="de", tgt="en"), str)
    # another sample rate is resampled to 16 kHz
    assert s2t.features(wave[::2], sample_rate=8000).shape[0] == pytest.approx(feats.shape[0], abs=2)
    beam = SpeechToText.from_exp_dir(str(world.exp), prompts=PROMPTS, max_new_tokens=10, beam_size=3)
    assert isinstance(beam.transcribe(wave, lang="en"), str)
    with pytest.raises(ValueError, match="prompt template"):
        SpeechToText(world.model, world.tokenizer, {"asr": PROMPTS["asr"]}).translate(wave, "de", "en")
    with pytest.raises(FileNotFoundError, match="trained experiment dir"):
        SpeechToText.from_exp_dir(str(tmp_path / "nowhere"), prompts=PROMPTS)
    with pytest.raises(FileNotFoundError, match="model files in"):
        SpeechToText.from_exp_dir(str(world.exp), prompts=PROMPTS, model_file="missing.pth")


def test_training_and_decoding_build_the_same_inputs(world, tmp_path):
    """A batch read for training (ESPnet's dataset with the task's preprocess and collate) and the batch
    that decoding builds from the same example list give the same speech and prompt embeddings."""
    import kaldiio
    from espnet2.train.dataset import ESPnetDataset

    from part.data.examples import read_kv
    from part.tasks.part_task import PARTTask

    data = _task_dir(world, tmp_path / "examples")
    args = argparse.Namespace(tokenizer_path=None, llm_path=str(world.llm_dir), llm_conf={}, model_type="speech_llm")
    dataset = ESPnetDataset([(str(data / "feats.scp"), "speech", "kaldi_ark"), (str(data / "prompt"), "prompt", "text"),
                             (str(data / "text"), "text", "text")],
                            preprocess=PARTTask.build_preprocess_fn(args, train=True))
    ids = sorted(read_kv(data / "prompt"))
    _, train_batch = PARTTask.build_collate_fn(args, train=True)([dataset[k] for k in ids])

    feats, prompts = read_kv(data / "feats.scp"), read_kv(data / "prompt")  # as part_inference reads them
    s2t = SpeechToText(world.model, world.tokenizer)
    decode_batch = s2t.batch([{"speech": kaldiio.load_mat(feats[k]), "prompt": prompts[k]} for k in ids])
    for key in ("speech", "speech_lengths", "prefix", "prefix_lengths", "suffix", "suffix_lengths"):
        assert torch.equal(train_batch[key], decode_batch[key]), key
    inputs_keys = ("speech", "speech_lengths", "prefix", "prefix_lengths", "suffix", "suffix_lengths")
    with torch.no_grad():
        train_inputs, train_mask, labels = world.model.build_inputs(
            **{k: train_batch[k] for k in inputs_keys}, text=train_batch["text"],
            text_lengths=train_batch["text_lengths"])
        decode_inputs, decode_mask, _ = world.model.build_inputs(**{k: decode_batch[k] for k in inputs_keys},
                                                                 left_pad=True)
    for i in range(len(ids)):  # the prompt + speech part of each example, training right- and decoding left-padded
        n_prompt = int((labels[i] == -100).logical_and(train_mask[i] == 1).sum())
        assert n_prompt == int(decode_mask[i].sum())
        assert torch.allclose(train_inputs[i, :n_prompt], decode_inputs[i, -n_prompt:], atol=1e-6)
