"""Exported models (part.export, python -m part.bin.export) and transcription of audio files
(python -m part.bin.transcribe), on a tiny random model with LoRA:

- the exported folder, copied elsewhere and loaded in a fresh process with the training LLM folder gone,
  decodes exactly as ``SpeechToText.from_exp_dir`` on the experiment; merged and separate LoRA agree;
  ``part.tasks`` is never imported; config.json carries no path; the model card names the schedule;
  a Whisper encoder is exported with its config instead of its folder;
- a two-minute recording of synthesised utterances with pauses: one VAD segment per utterance, in
  order, within 0.3 s of the true boundaries, each with the text of its utterance decoded alone; jsonl
  and srt outputs parse; fixed windows; bad inputs are reported while the good file is transcribed;
- input lists, resampling and first-channel reading, ffmpeg fallback, segmentation helpers.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from helpers_tiny import (FEAT_DIM, PROMPTS, SUBPROCESS_ENV, TINY_ADAPTERS, TINY_CONFORMER, TINY_WHISPER,
                          make_decoding_llm, make_task_dir, spread_weights)
from part.bin import make_results, part_inference, part_score, transcribe
from part.data.audio import AudioError
from part.data.prompts import render
from part.data.segment import (VadOptions, cue_times, fixed_segments, frame_energies, has_speech, merge_overlap,
                               vad_segments)
from part.export import ExportError, export_model, read_config
from part.inference import SpeechToText
from part.transcription.inputs import AudioInput, list_inputs, load_recording

RATE = 16000
SCHEDULES = {  # phase -> (schedule_conf, LoRA?)
    "phase1": ({"trainable": {1: ["adapter"]}, "tasks": {1: ["asr"]}}, False),
    "phase2": ({"trainable": {1: ["adapter", "encoder", "llm_lora"]},
                "tasks": {1: ["asr", "s2tt"], 2: ["asr", "s2tt", "mt"]}}, True),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def _phase_config(phase: str, llm_path: str, stats: Path, encoder: str = "conformer", **extra) -> dict:
    schedule, lora = SCHEDULES[phase]
    encoder_conf = {**TINY_CONFORMER, "stats_file": str(stats)} if encoder == "conformer" else extra.pop("encoder_conf")
    return dict(model_type="speech_llm", llm_path=llm_path, llm_conf={}, tokenizer_path=None,
                lora_conf=dict(r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]) if lora else {},
                encoder=encoder, encoder_conf=encoder_conf, encoder_path=None, input_size=FEAT_DIM,
                speech_adapter="transformer_cnn", speech_adapter_conf=TINY_ADAPTERS["transformer_cnn"],
                ctc_vocab=False, schedule_conf=schedule, save_llm_base=False, max_epoch=2, optim="adamw",
                optim_conf={"lr": 0.001}, train_data_path_and_name_and_type=[
                    ["dump/train/tasks/feats.scp", "speech", "kaldi_ark"],
                    ["dump/train/tasks/prompt", "prompt", "text"], ["dump/train/tasks/text", "text", "text"]], **extra)


def _train_phase(exp: Path, config: dict, root: Path, seed: int) -> None:
    """Write a phase dir as training leaves it: config.yaml (relative paths, as recipes write them) and a
    checkpoint of a random model whose LoRA weights are not zero (so that merging them changes the LLM)."""
    from part.model.factory import build_model

    model = build_model({**config, "llm_path": str(root / config["llm_path"])})
    torch.manual_seed(seed)
    spread_weights(model.adapter, 1.0)
    with torch.no_grad():
        for name, p in model.llm.named_parameters():
            if "lora_" in name:
                p.normal_(0.0, 0.3)
    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    torch.save(model.state_dict(), exp / "valid.acc.ave.pth")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A recipe-like tree with a trained-looking PART run (phase1, phase2 with LoRA), decoded and scored, and
    its phase2 exported twice: LoRA merged and LoRA apart."""
    root = tmp_path_factory.mktemp("recipe")
    llm_dir = make_decoding_llm(root / "exp" / "llm")
    make_task_dir(root / "dump" / "train", tasks=("asr", "s2tt", "mt"), num_utts=6)
    test_set = make_task_dir(root / "dump" / "test", tasks=("asr", "s2tt"), num_utts=4, seed=3)
    stats = root / "dump" / "feats_stats.npz"  # global CMVN statistics of real speech, as stage 2 computes them
    from part.data.features import FeatureOptions, compute_features

    feats = np.concatenate([compute_features(u, FeatureOptions()) for u in _utterances(3)])
    np.savez(stats, count=np.array(float(len(feats))), sum=feats.sum(0),
             sum_square=(feats.astype(np.float64) ** 2).sum(0))
    (root / "conf").mkdir()
    (root / "conf" / "prompts.yaml").write_text(yaml.safe_dump(PROMPTS))
    for seed, phase in enumerate(SCHEDULES):
        _train_phase(root / "exp" / "part" / phase, _phase_config(phase, "exp/llm", stats), root, seed)
    exp = root / "exp" / "part" / "phase2"
    old = os.getcwd()
    os.chdir(root)  # stages 7-8 run in the recipe dir
    try:
        assert part_inference.main(["--exp_dir", "exp/part/phase2", "--data_dir", str(test_set), "--out_prefix",
                                    "exp/part/phase2/decode_test", "--max_new_tokens", "8"]) == 0
        for task in ("asr", "s2tt"):
            assert part_score.main(["--decode_dir", f"exp/part/phase2/decode_test_{task}", "--use_sclite", "no"]) == 0
        assert make_results.main(["--exp_dir", "exp", "--out", "exp/RESULTS.md"]) == 0
    finally:
        os.chdir(old)
    merged = export_model(str(exp), str(root.parent / f"{root.name}_models" / "merged"))
    apart = export_model(str(exp), str(root.parent / f"{root.name}_models" / "apart"), merge_lora=False)
    return types.SimpleNamespace(root=root, exp=exp, llm_dir=llm_dir, stats=stats, merged=merged, apart=apart)


def _examples():
    """(features, rendered prompt) of ASR, S2TT and text-only MT examples of different lengths."""
    rng = np.random.default_rng(1)
    feats = [(rng.standard_normal((n, FEAT_DIM)) + 1.0).astype(np.float32) for n in (230, 57, 140, 0, 95)]
    prompts = [render(PROMPTS["asr"], "de", "de"), render(PROMPTS["asr"], "en", "en"),
               render(PROMPTS["s2tt"], "de", "en"), render(PROMPTS["mt"], "de", "en", "die katze sass auf dem tisch"),
               render(PROMPTS["s2tt"], "de", "en")]
    return feats, prompts


_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)
from part.inference import SpeechToText
data = np.load(sys.argv[1], allow_pickle=True)
feats, prompts = list(data["feats"]), [str(p) for p in data["prompts"]]
out = {}
for name, folder in (("merged", sys.argv[2]), ("apart", sys.argv[3])):
    s2t = SpeechToText.from_pretrained(folder, max_new_tokens=10)
    hyps, scores = s2t.decode_ids(feats, prompts, return_scores=True)
    examples = [{"speech": f, "prompt": p} for f, p in zip(feats, prompts)]
    with torch.no_grad():
        inputs, mask, _ = s2t.model.build_inputs(**s2t.batch(examples), left_pad=True, encode_one_by_one=True)
        logits = s2t.model.llm(inputs_embeds=inputs, attention_mask=mask).logits
    np.save(f"{sys.argv[4]}/{name}_logits.npy", logits.numpy())
    out[name] = {"hyps": hyps, "scores": scores}
out["task_modules"] = sorted(m for m in sys.modules if m.startswith("part.tasks"))
print(json.dumps(out))
"""


def test_exported_folder_decodes_like_the_experiment_anywhere(world, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    merged, apart = elsewhere / "models" / "merged", elsewhere / "models" / "apart"
    shutil.copytree(world.merged, merged)
    shutil.copytree(world.apart, apart)
    feats, prompts = _examples()
    np.savez(tmp_path / "examples.npz", feats=np.array(feats, dtype=object), prompts=np.array(prompts))
    script = tmp_path / "decode.py"
    script.write_text(_FRESH_PROCESS)
    moved = {world.llm_dir: world.llm_dir.with_name("llm.moved"), world.stats: world.stats.with_name("stats.moved")}
    for src, dst in moved.items():  # nothing of the training run may be needed any more
        src.rename(dst)
    try:
        proc = subprocess.run([sys.executable, str(script), str(tmp_path / "examples.npz"), str(merged), str(apart),
                               str(tmp_path)], cwd=elsewhere, env=SUBPROCESS_ENV, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        for src, dst in moved.items():
            dst.rename(src)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    assert fresh["task_modules"] == []  # no ESPnet task machinery

    reference = SpeechToText.from_exp_dir(str(world.exp), max_new_tokens=10)
    ref_hyps, ref_scores = reference.decode_ids(feats, prompts, return_scores=True)
    assert fresh["merged"]["hyps"] == ref_hyps
    assert fresh["apart"]["hyps"] == ref_hyps
    assert fresh["merged"]["scores"] == pytest.approx(ref_scores, abs=1e-4)
    assert fresh["apart"]["scores"] == pytest.approx(ref_scores, abs=1e-4)
    assert sum(len(h) for h in ref_hyps) > 2 * len(ref_hyps) and len({tuple(h) for h in ref_hyps}) > 1
    logits_merged, logits_apart = (np.load(tmp_path / f"{n}_logits.npy") for n in ("merged", "apart"))
    np.testing.assert_allclose(logits_merged, logits_apart, atol=1e-4)
    # LoRA does change the LLM: the base LLM alone gives other logits
    base = SpeechToText.from_pretrained(str(apart), max_new_tokens=10)
    with torch.no_grad(), base.model.llm.disable_adapter():
        inputs, mask, _ = base.model.build_inputs(**base.batch([{"speech": f, "prompt": p}
                                                               for f, p in zip(feats, prompts)]),
                                                  left_pad=True, encode_one_by_one=True)
        plain = base.model.llm(inputs_embeds=inputs, attention_mask=mask).logits.numpy()
    assert np.abs(plain - logits_apart).max() > 1e-2


def test_exported_folder_layout_config_and_model_card(world):
    for folder in (world.merged, world.apart):
        config = read_config(str(folder))
        model = config["model"]
        assert "stats_file" not in model["encoder_conf"]
        text = json.dumps(model)
        assert str(world.root) not in text and "exp/llm" not in text  # nothing points at the training run
        assert config["prompts"] == PROMPTS
        assert config["decoding"]["max_new_tokens"] == 8  # what stage 7 decoded with
        assert config["languages"] == {"asr": ["de", "en"], "mt": ["de-en"], "s2tt": ["de-en"]}
        assert config["features"]["feature_type"] == "fbank" and config["features"]["num_mel_bins"] == FEAT_DIM
        assert [p["phase"] for p in config["training"]["phases"]] == ["phase1", "phase2"]
        assert config["training"]["data"]["hours"]["de"] > 0
        assert (folder / "model.safetensors").is_file() and (folder / "llm" / "tokenizer.json").is_file()
    merged, apart = read_config(str(world.merged)), read_config(str(world.apart))
    assert merged["model"]["lora"]["merged"] and not (world.merged / "lora").exists()
    assert not apart["model"]["lora"]["merged"] and (world.apart / "lora" / "adapter_config.json").is_file()
    from safetensors import safe_open

    with safe_open(str(world.merged / "llm" / "model.safetensors"), "pt") as f:
        assert not [k for k in f.keys() if "lora" in k]  # merged into the base weights
    card = (world.merged / "README.md").read_text()
    assert "## Training schedule" in card
    assert "| phase1 | 2 | from epoch 1: adapter | from epoch 1: asr |" in card
    assert "from epoch 1: adapter, encoder, llm_lora" in card and "from epoch 2: asr, s2tt, mt" in card
    assert "tasks / ASR: part/phase2" in card and "| de | WER |" in card  # the scores from RESULTS.md
    assert "ASR languages: de, en" in card and "python -m part.bin.transcribe" in card
    assert "merged into `llm/`" in card and "kept apart in `lora/`" in (world.apart / "README.md").read_text()


def test_export_refuses_and_explains(world, tmp_path):
    with pytest.raises(ExportError, match="not empty"):
        export_model(str(world.exp), str(world.merged))
    wrong = tmp_path / "prompts.yaml"
    wrong.write_text(yaml.safe_dump({**PROMPTS, "asr": "<speech> transcribe {src}"}))
    with pytest.raises(ExportError, match="trained on"):
        export_model(str(world.exp), str(tmp_path / "out"), prompts=str(wrong))
    with pytest.raises(ExportError, match="not an exported model"):
        read_config(str(tmp_path))
    config = json.loads((world.merged / "config.json").read_text())
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(ExportError, match="format version 99"):
        SpeechToText.from_pretrained(str(tmp_path / "old"))


def test_whisper_encoder_is_exported_with_its_config(world, tmp_path):
    """A Whisper encoder read from a local folder in training is exported as its config dict + weights."""
    from transformers import WhisperConfig, WhisperModel

    whisper_dir = world.root / "whisper"
    torch.manual_seed(0)
    WhisperModel(WhisperConfig(**TINY_WHISPER)).save_pretrained(str(whisper_dir))
    config = _phase_config("phase1", "exp/llm", world.stats, encoder="whisper",
                           encoder_conf={"path": str(whisper_dir)}, feature_conf={"feature_type": "whisper"})
    exp = world.root / "exp" / "whisper" / "phase1"
    _train_phase(exp, config, world.root, seed=5)
    out = export_model(str(exp), str(tmp_path / "whisper_model"))
    conf = read_config(str(out))["model"]["encoder_conf"]
    assert "path" not in conf and conf["config"]["d_model"] == TINY_WHISPER["d_model"]
    feats = [np.random.default_rng(2).standard_normal((150, FEAT_DIM)).astype(np.float32)]
    prompts = [render(PROMPTS["asr"], "en", "en")]
    expected = SpeechToText.from_exp_dir(str(exp), max_new_tokens=6).decode_ids(feats, prompts)
    shutil.rmtree(whisper_dir)  # the exported model does not need the Whisper folder
    exported = SpeechToText.from_pretrained(str(out), max_new_tokens=6)
    assert exported.feature_options.feature_type == "whisper"
    assert exported.decode_ids(feats, prompts) == expected


# ---------------------------------------------------------------------------------------------- transcribe
SENTENCES = [("en", "the cat sat on the mat and then it slept"), ("de", "guten morgen wie geht es dir heute"),
             ("en", "we eat bread and cheese every day"), ("de", "die sonne ist heute warm"),
             ("en", "my friend reads a book in the garden"), ("de", "der zug ist wieder spaet"),
             ("en", "a dog runs in the park"), ("de", "wir essen brot und kaese")]


def _utterances(n: int):
    """``n`` synthesised utterances (16 kHz, with their own noise at 20 dB SNR), alternating voices and rates."""
    from part.data.embedded.synth import add_noise, espeak, resample

    out = []
    for i in range(n):
        lang, text = SENTENCES[i % len(SENTENCES)]
        samples, rate = espeak(text, f"{lang}+{'m3' if i % 3 else 'f2'}", 140 + 7 * (i % 6), 40 + 3 * (i % 7))
        out.append(add_noise(resample(samples, rate), 20.0, seed=i))
    return out


def _concatenate(parts, gaps, noise: float = 0.0):
    """One recording of the parts with the given pauses (seconds) between them; returns it and each part's
    true (begin, stop) samples."""
    rng = np.random.default_rng(11)
    pieces, bounds, pos = [], [], 0
    for part, gap in zip(parts, gaps):
        pieces.append(part)
        bounds.append((pos, pos + len(part)))
        pause = (noise * rng.standard_normal(int(gap * RATE))).astype(np.float32)
        pieces.append(pause)
        pos += len(part) + len(pause)
    return np.concatenate(pieces), bounds


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A two-minute recording of 32 utterances with 0.8-2 s pauses of digital silence, as 16-bit WAV."""
    parts = _utterances(32)
    gaps = np.random.default_rng(5).uniform(0.8, 2.0, len(parts))
    samples, bounds = _concatenate(parts, gaps)
    path = tmp_path_factory.mktemp("audio") / "talk.wav"
    soundfile.write(str(path), samples, RATE, subtype="PCM_16")
    samples = soundfile.read(str(path), dtype="float32")[0]  # the 16-bit samples the test decodes
    assert len(samples) / RATE > 110
    return types.SimpleNamespace(path=path, samples=samples, bounds=bounds, parts=parts, gaps=gaps)


def test_transcribe_long_recording_one_segment_per_utterance(world, recording, tmp_path, capsys):
    out = tmp_path / "talk.jsonl"
    assert transcribe.main([str(world.merged), str(recording.path), "--lang", "en", "--format", "jsonl", "--output",
                            str(out), "--max_new_tokens", "10", "--batch_size", "8", "--progress", "false"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["segment"] for line in lines] == list(range(len(recording.bounds)))
    assert all(line["id"] == "talk" for line in lines)
    s2t = SpeechToText.from_pretrained(str(world.merged), max_new_tokens=10)
    for line, (begin, stop) in zip(lines, recording.bounds):
        assert abs(line["start"] - begin / RATE) <= 0.3 and abs(line["end"] - stop / RATE) <= 0.3, line
        alone = s2t.transcribe(recording.samples[begin:stop], lang="en")  # the utterance decoded on its own
        assert line["text"] == alone, line
        assert line["decode_seconds"] > 0 and line["rtf"] == pytest.approx(
            line["decode_seconds"] / (line["end"] - line["start"]), rel=0.02, abs=1e-3)
    assert len({line["text"] for line in lines}) > 3  # a random model, but not a constant one
    assert "1 of 1 input(s) transcribed" in capsys.readouterr().err

    # plain text: one line, the segments' texts in order
    text_out = tmp_path / "talk.txt"
    assert transcribe.main([str(world.merged), str(recording.path), "--lang", "en", "--output", str(text_out),
                            "--max_new_tokens", "10", "--progress", "false"]) == 0
    assert text_out.read_text() == " ".join(line["text"] for line in lines if line["text"]) + "\n"


def _parse_srt(text: str):
    cues = []
    for block in text.strip().split("\n\n"):
        index, times, *words = block.split("\n")
        m = re.fullmatch(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})", times)
        assert m, times
        v = [int(x) for x in m.groups()]
        start = v[0] * 3600 + v[1] * 60 + v[2] + v[3] / 1000
        end = v[4] * 3600 + v[5] * 60 + v[6] + v[7] / 1000
        cues.append((int(index), start, end, " ".join(words)))
    return cues


def test_transcribe_fixed_windows_to_srt(world, recording, tmp_path):
    out = tmp_path / "talk.srt"
    assert transcribe.main([str(world.merged), str(recording.path), "--lang", "de", "--task", "s2tt", "--tgt", "en",
                            "--format", "srt", "--output", str(out), "--segment", "fixed", "--max_segment", "15",
                            "--overlap", "3", "--max_new_tokens", "8", "--progress", "false"]) == 0
    cues = _parse_srt(out.read_text())
    windows = cue_times(fixed_segments(len(recording.samples), RATE, 15.0, 3.0))
    assert 1 <= len(cues) <= len(windows)
    assert [c[0] for c in cues] == list(range(1, len(cues) + 1))
    for (_, start, end, text), nxt in zip(cues, cues[1:] + [None]):
        assert text and (start, end) in [(pytest.approx(a, abs=1e-3), pytest.approx(b, abs=1e-3)) for a, b in windows]
        if nxt:
            assert end <= nxt[1]  # monotonic: overlapping windows meet in the middle of their overlap


def test_transcribe_bad_inputs_are_reported_and_the_good_file_transcribed(world, recording, tmp_path, capsys):
    good = tmp_path / "good.wav"
    begin, stop = recording.bounds[0]
    soundfile.write(str(good), recording.samples[begin:stop + RATE], RATE)
    soundfile.write(str(tmp_path / "silent.wav"), np.zeros(2 * RATE, np.float32), RATE)
    soundfile.write(str(tmp_path / "hum.wav"), 0.1 * np.random.default_rng(0).standard_normal(2 * RATE), RATE)
    soundfile.write(str(tmp_path / "narrow.wav"), recording.samples[begin:stop:4], 4000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    inputs = [str(tmp_path / n) for n in ("missing.wav", "broken.wav", "silent.wav", "hum.wav", "narrow.wav",
                                          "good.wav")]
    out = tmp_path / "out.txt"
    rc = transcribe.main([str(world.merged), *inputs, "--lang", "en", "--output", str(out), "--max_new_tokens", "10",
                          "--progress", "false"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = out.read_text().split("\n")[:-1]
    assert len(lines) == len(inputs)  # one line per input, in order
    alone = SpeechToText.from_pretrained(str(world.merged), max_new_tokens=10).transcribe(
        recording.samples[begin:stop], lang="en")
    assert lines[-1] == alone and lines[:-1] == [""] * 5
    assert "missing.wav: audio file" in err and "not found" in err
    assert "broken.wav: cannot decode" in err and "convert it to wav or flac" in err
    assert "silent.wav: no speech found" in err and "hum.wav: no speech found" in err
    assert "narrow.wav: sample rate 4000 Hz is too low" in err
    assert "failed: missing, broken, narrow" in err

    jsonl = tmp_path / "out.jsonl"
    assert transcribe.main([str(world.merged), *inputs, "--lang", "en", "--format", "jsonl", "--output", str(jsonl),
                            "--max_new_tokens", "10", "--progress", "false"]) == 1
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["id"] for r in records] == ["missing", "broken", "silent", "hum", "narrow", "good"]
    assert "error" in records[0] and records[2]["warning"] == "no speech found" and records[5]["text"] == alone


def test_transcribe_refuses_bad_options(world, recording, capsys):
    with pytest.raises(SystemExit) as exc:
        transcribe.main([str(world.merged), str(recording.path), "--lang", "fr"])
    assert "not trained on asr language 'fr'; it knows: de, en" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        transcribe.main([str(world.merged), str(recording.path), "--task", "s2tt", "--lang", "en", "--tgt", "de"])
    assert "direction 'en-de'; it knows: de-en" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        transcribe.main([str(world.merged), str(recording.path), "--lang", "xx"])
    assert "unknown language code 'xx'" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        transcribe.main([str(world.merged), str(recording.path), "--task", "s2tt", "--lang", "de"])
    assert exc.value.code == 2 and "--task s2tt needs --tgt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        transcribe.main([str(world.root), str(recording.path), "--lang", "de"])
    assert "not an exported model" in str(exc.value)


# ---------------------------------------------------------------------------------------------- pieces
def test_vad_finds_utterances_between_noisy_pauses():
    parts = _utterances(12)
    gaps = np.random.default_rng(2).uniform(0.6, 1.5, len(parts))
    samples, bounds = _concatenate(parts, gaps, noise=0.003)  # pauses of noise 20 dB below the utterances' own
    segments = vad_segments(samples, RATE)
    assert len(segments) == len(bounds)
    for seg, (begin, stop) in zip(segments, bounds):
        assert abs(seg.start - begin / RATE) <= 0.3 and abs(seg.end - stop / RATE) <= 0.3
    # louder or quieter recordings give the same segments (the threshold follows the recording's level)
    for gain in (0.05, 3.0):
        assert vad_segments(gain * samples, RATE) == segments
    # long speech is cut at its quietest point, within the limit
    limit = 4.0
    short = vad_segments(samples, RATE, VadOptions(max_segment=limit, min_silence=5.0))
    assert len(short) > 1 and all(s.duration <= limit + 1e-6 for s in short)
    for a, b in zip(short, short[1:]):
        if a.stop == b.begin:  # a cut inside speech: a quiet frame, not a loud one
            energies = frame_energies(samples, RATE)
            assert energies[a.stop // 160] < np.percentile(energies, 50)


def test_silence_and_steady_noise_have_no_speech():
    rng = np.random.default_rng(0)
    assert vad_segments(np.zeros(3 * RATE, np.float32), RATE) == []
    assert vad_segments((1e-4 * rng.standard_normal(3 * RATE)).astype(np.float32), RATE) == []  # -80 dBFS hiss
    assert vad_segments((0.2 * rng.standard_normal(3 * RATE)).astype(np.float32), RATE) == []  # loud steady noise
    assert not has_speech(np.zeros(100, np.float32), RATE)
    assert has_speech(_utterances(1)[0], RATE)


def test_fixed_windows_cues_and_overlap_merging():
    windows = fixed_segments(50 * RATE, RATE, window=20.0, overlap=2.0)
    assert [(w.start, w.end) for w in windows] == [(0, 20), (18, 38), (36, 50)]
    assert cue_times(windows) == [(0, 19), (19, 37), (37, 50)]
    assert fixed_segments(5 * RATE, RATE, 20.0, 2.0)[0].end == 5
    with pytest.raises(ValueError):
        fixed_segments(RATE, RATE, 2.0, 2.0)
    assert merge_overlap("we went to the old market", "the old market was closed") == "was closed"
    assert merge_overlap("we went home", "home was warm") == "home was warm"  # one word may be a coincidence
    assert merge_overlap("我们去了市场", "去了市场买菜") == "买菜"  # CJK: characters
    assert merge_overlap("", "hello there") == "hello there"


def test_list_inputs(tmp_path):
    (tmp_path / "talks" / "day1").mkdir(parents=True)
    for name in ("talks/b.wav", "talks/day1/a.flac", "talks/notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "x.wav").write_bytes(b"x")
    (tmp_path / "lists" / "wav.scp").write_text("utt1 x.wav\nutt2 sox a.sph -t wav - |\nutt3\n")
    (tmp_path / "lists" / "with_header.tsv").write_text("client\tpath\tsentence\nc1\tx.wav\thello\n")
    (tmp_path / "lists" / "plain.tsv").write_text("r1\tx.wav\n")
    found = list_inputs([str(tmp_path / "talks"), str(tmp_path / "lists" / "wav.scp"),
                         str(tmp_path / "lists" / "with_header.tsv"), str(tmp_path / "lists" / "plain.tsv"),
                         str(tmp_path / "lists" / "x.wav"), str(tmp_path / "empty_dir_missing")])
    ids = [f.id for f in found]
    assert ids == ["b", "day1/a", "utt1", "utt2", "utt3", "x", "r1", "x-2", "empty_dir_missing"]
    by_id = {f.id: f for f in found}
    assert by_id["utt1"].entry == str(tmp_path / "lists" / "x.wav")  # relative to the list when not from here
    assert by_id["utt2"].entry == "sox a.sph -t wav - |"
    assert by_id["utt3"].error and by_id["utt3"].where.endswith("wav.scp:3 ('utt3')")
    assert by_id["x"].entry == by_id["r1"].entry == str(tmp_path / "lists" / "x.wav")


def test_reading_resamples_keeps_the_first_channel_and_falls_back_to_ffmpeg(tmp_path, monkeypatch):
    from part.data.audio import resample

    rng = np.random.default_rng(0)
    left, right = (0.1 * rng.standard_normal(44100)).astype(np.float32), np.zeros(44100, np.float32)
    soundfile.write(str(tmp_path / "stereo.flac"), np.stack([left, right], 1), 44100, subtype="PCM_24")
    samples = load_recording(AudioInput("s", str(tmp_path / "stereo.flac"), "arg"), RATE)
    assert len(samples) == RATE
    np.testing.assert_allclose(samples, resample(left, 44100, RATE), atol=1e-5)
    # a format libsndfile does not read goes through ffmpeg when it is on PATH (here a stand-in that reads .npy)
    np.save(tmp_path / "clip.npy", left[:RATE])
    odd = tmp_path / "clip.m4a"
    os.rename(tmp_path / "clip.npy", odd)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").write_text(f"#!{sys.executable}\nimport sys, numpy as np\na = sys.argv\n"
                                    "x = np.load(a[a.index('-i') + 1])\n"
                                    "assert a[a.index('-ar') + 1] == '16000' and a[-2:] == ['f32le', '-']\n"
                                    "sys.stdout.buffer.write(x.astype('<f4').tobytes())\n")
    (bin_dir / "ffmpeg").chmod(0o755)
    inp = AudioInput("clip", str(odd), "arg")
    monkeypatch.setenv("PATH", str(bin_dir), prepend=os.pathsep)
    np.testing.assert_array_equal(load_recording(inp, RATE), left[:RATE])
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(AudioError, match="install ffmpeg"):
        load_recording(inp, RATE)
