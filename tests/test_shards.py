"""The raw-audio path (stage 2 ``--feats_type raw``): shards, features on the fly, the streaming sampler,
the loader, ranks and workers, training and resume.

- Packing (``part.bin.pack_shards``): the tars are normal archives whose manifest offsets point at each
  member's data; compressed 16 kHz mono files keep their bytes, everything else (wav, other rates,
  segments, pipes) becomes lossless 16-bit FLAC; bad audio is skipped and listed, too much of it stops
  the run; a finished set is skipped, a killed run resumes keeping its finished shards.
- Features computed by the loader equal stage 2's dumps (``part.bin.extract_feats``), fbank and Whisper.
- The sampler (``ExampleStream``): passes, tasks and directions, duration buckets, determinism, skip,
  the epoch-by-epoch task schedule, temperature sampling over languages.
- The loader (``BatchLoader``, ``ShardIterFactory``): a corrupt member is skipped, counted and named, too
  many stop the run, a missing shard stops it at start-up.
- Two gloo ranks with two workers each read every example of a pass once between them.
- ``part_train`` on shards: per-epoch data logs, stream positions and padding in ``train.log``; a run killed
  in epoch 2 resumes on the same data and ends with the same weights as an uninterrupted one.

Everything is tiny (utterances of 0.25-0.75 s, a Qwen2 of hidden size 32); the sampler tests need no
audio and use metadata-only shard sets.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Sequence

import kaldiio
import numpy as np
import pytest
import soundfile

from helpers_tiny import (PROMPTS, REPO, make_audio_data_dir, raw_train_args, shared_tiny_llm, tone_and_noise,
                          write_prompts)
from part.bin import pack_shards
from part.bin.pack_shards import PackError, pack
from part.data.audio import read_audio, resample
from part.data.examples import utterance_examples
from part.data.features import FeatureOptions
from part.data.sampler import ExampleStream, SamplerConf
from part.data.shards import DurationHistogram, ShardError, ShardSet, ShardWriter

ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
           NLTK_DATA=str(REPO / "tools" / "nltk_data"), PYTHONPATH=str(REPO))
DIRECTIONS = ["*-en", "en-*"]
ALL_TASKS = ["asr", "s2tt", "mt"]


def all_records(shard_set: ShardSet) -> List[dict]:
    return list(shard_set.all_records())


def tar_members(tar_path) -> Dict[str, bytes]:
    with tarfile.open(tar_path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def expected_examples(records: Sequence[dict], tasks: Sequence[str]) -> List[str]:
    """The example ids a pass over ``records`` must produce (the one definition, from part.data.examples)."""
    return sorted(ex.id for r in records
                  for ex in utterance_examples(r["id"], r["lang"], r["text"], r["translations"], PROMPTS, tasks,
                                               DIRECTIONS))


def stream(shard_set: ShardSet, tasks=("asr",), seed: int = 0, passes=None, tasks_at=None, **conf) -> ExampleStream:
    return ExampleStream(shard_set, PROMPTS, DIRECTIONS, SamplerConf(**conf), seed,
                         tasks_at or (lambda g: list(tasks)), passes)


def batch_ids(batches) -> List[List[str]]:
    return [[ex.id for ex in batch] for batch in batches]


@pytest.fixture(scope="module")
def llm(tmp_path_factory):
    return shared_tiny_llm(tmp_path_factory)


# ---------------------------------------------------------------------------------------------- packing
def test_pack_writes_normal_tars_whose_manifest_offsets_point_at_the_audio(tmp_path):
    data = make_audio_data_dir(tmp_path, "train", 11)
    assert pack(str(data), str(tmp_path / "raw"), utts_per_shard=3, nj=2) is True
    shard_set = ShardSet(tmp_path / "raw")
    index = shard_set.index
    # One language per shard, cut every 3 utterances: de 6 -> 2 shards, en 5 -> 2 shards.
    assert [(s.name, s.utts) for s in shard_set.shards] == [
        ("de-000000", 3), ("de-000001", 3), ("en-000000", 3), ("en-000001", 2)]
    assert index["utts"] == shard_set.num_utts == 11
    assert index["langs"]["de"]["utts"] == 6 and index["langs"]["de"]["translations"] == {"en": 6}
    assert index["langs"]["en"]["translations"] == {"de": 5}
    assert index["skipped"] == {"bad_audio": 0, "duration": 0}
    quantiles = shard_set.duration_quantiles()
    assert len(quantiles) == 101 and quantiles == sorted(quantiles) and 0.25 <= quantiles[0] and quantiles[-1] <= 0.76

    wav_scp = dict(line.split(" ", 1) for line in (data / "wav.scp").read_text().splitlines())
    text = dict(line.split(" ", 1) for line in (data / "text").read_text().splitlines())
    seen = []
    for shard in shard_set.shards:
        members = tar_members(tmp_path / "raw" / shard.tar)
        records = list(shard_set.records(shard))
        assert list(members) == [f"{r['id']}.flac" for r in records]  # tar order == manifest order
        blob = (tmp_path / "raw" / shard.tar).read_bytes()
        for r in records:
            assert blob[r["offset"]: r["offset"] + r["size"]] == members[f"{r['id']}.flac"]
            assert r["lang"] == shard.lang and r["text"] == text[r["id"]] and r["format"] == "flac"
            samples, rate = soundfile.read(wav_scp[r["id"]], dtype="float32")
            assert r["duration"] == pytest.approx(len(samples) / rate, abs=1e-4)
            seen.append(r["id"])
    assert sorted(seen) == sorted(wav_scp)
    assert (tmp_path / "raw" / "skipped").read_text() == ""


def _write(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _data_dir(root: Path, wav_scp: Dict[str, str], segments: Dict[str, str] = None) -> Path:
    """A German data dir over the given wav.scp entries (and segments); speakers are the id prefixes."""
    data = root / "data"
    data.mkdir(parents=True)
    utts = sorted(segments or wav_scp)
    _write(data / "wav.scp", [f"{k} {v}" for k, v in sorted(wav_scp.items())])
    if segments:
        _write(data / "segments", [f"{u} {segments[u]}" for u in utts])
    _write(data / "text", [f"{u} hallo {i}" for i, u in enumerate(utts)])
    _write(data / "utt2lang", [f"{u} de" for u in utts])
    _write(data / "utt2spk", [f"{u} {u.split('-')[0]}" for u in utts])
    speakers = sorted({u.split("-")[0] for u in utts})
    _write(data / "spk2utt", [f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}" for s in speakers])
    return data




def test_pack_keeps_compressed_originals_and_stores_everything_else_as_lossless_flac(tmp_path):
    from part.bin.pack_shards import PackOptions
    from part.data.shards import load_audio

    audio = tmp_path / "audio"
    audio.mkdir()
    x = tone_and_noise(12000, 1)
    loud = np.clip(x * 3.2, -1.0, 32767 / 32768).astype(np.float32)  # peaks at full scale: 16-bit extremes
    soundfile.write(audio / "a.flac", x, 16000, subtype="PCM_16")
    soundfile.write(audio / "b.opus", x, 16000, format="OGG", subtype="OPUS")
    soundfile.write(audio / "c.mp3", x, 16000, format="MP3")
    soundfile.write(audio / "d.wav", loud, 16000, subtype="PCM_16")
    soundfile.write(audio / "e.wav", tone_and_noise(6000, 2, 8000), 8000, subtype="PCM_16")
    soundfile.write(audio / "f.flac", np.stack([x, -x], axis=1), 16000, subtype="PCM_16")  # stereo
    soundfile.write(audio / "rec.wav", tone_and_noise(48000, 3), 16000, subtype="PCM_16")  # 3 s, for segments
    wav_scp = {"spk1-a": audio / "a.flac", "spk2-b": audio / "b.opus", "spk3-c": audio / "c.mp3",
               "spk4-d": audio / "d.wav", "spk5-e": audio / "e.wav", "spk6-f": audio / "f.flac",
               "spk7-g": f"cat {audio / 'd.wav'} |"}
    data = _data_dir(tmp_path / "files", {k: str(v) for k, v in wav_scp.items()})
    out = tmp_path / "raw"
    # 8 kHz audio is resampled when read (the default policy would skip it as unusable)
    pack(str(data), str(out), PackOptions(policy="resample"), nj=1)
    records = {r["id"]: r for r in all_records(ShardSet(out))}
    assert sorted(records) == sorted(wav_scp)

    for utt, fmt in (("spk1-a", "flac"), ("spk2-b", "ogg"), ("spk3-c", "mp3")):
        record = records[utt]
        assert record["format"] == fmt
        assert tar_members(record["shard"])[f"{utt}.{fmt}"] == wav_scp[utt].read_bytes()
        # the same bytes; lossy decoders round differently reading from memory and from a file
        np.testing.assert_allclose(load_audio(record, 16000), read_audio(str(wav_scp[utt])), atol=1e-6)
    expected = {"spk4-d": read_audio(str(audio / "d.wav")),
                "spk5-e": resample(read_audio(str(audio / "e.wav"), sample_rate=8000), 8000, 16000),
                "spk6-f": read_audio(str(audio / "f.flac")),  # the first channel
                "spk7-g": read_audio(str(audio / "d.wav"))}
    np.testing.assert_array_equal(expected["spk6-f"], soundfile.read(audio / "f.flac", dtype="float32")[0][:, 0])
    for utt, samples in expected.items():
        assert records[utt]["format"] == "flac"
        assert records[utt]["duration"] == pytest.approx(len(samples) / 16000, abs=1e-4)
        decoded = load_audio(records[utt], 16000)
        if utt == "spk5-e":  # resampled floats, then 16 bits
            np.testing.assert_allclose(decoded, samples, atol=1 / 32768)
        else:  # 16-bit sources: lossless
            np.testing.assert_array_equal(decoded, samples)

    # Segments of a long recording, read from a file and through a pipe (one run for both segments).
    runs = tmp_path / "runs"
    segmented = _data_dir(tmp_path / "segments",
                          {"rec1": str(audio / "rec.wav"), "rec2": f"echo run >> {runs}; cat {audio / 'rec.wav'} |"},
                          {"spk1-rec1-a": "rec1 0.50 1.25", "spk1-rec1-b": "rec1 2.00 3.00",
                           "spk2-rec2-a": "rec2 0.00 1.00", "spk2-rec2-b": "rec2 1.50 2.50"})
    pack(str(segmented), str(tmp_path / "raw_segments"), nj=1)
    records = {r["id"]: r for r in all_records(ShardSet(tmp_path / "raw_segments"))}
    whole = read_audio(str(audio / "rec.wav"))
    for utt, (start, stop) in {"spk1-rec1-a": (8000, 20000), "spk1-rec1-b": (32000, 48000),
                               "spk2-rec2-a": (0, 16000), "spk2-rec2-b": (24000, 40000)}.items():
        assert records[utt]["format"] == "flac"
        np.testing.assert_array_equal(load_audio(records[utt], 16000), whole[start:stop])
    assert runs.read_text().splitlines() == ["run"]


def _break_audio(data: Path) -> Dict[str, str]:
    """Corrupt, empty, missing and too short audio for four utterances of ``data``; returns utt -> how."""
    wav_scp = dict(line.split(" ", 1) for line in (data / "wav.scp").read_text().splitlines())
    utts = sorted(wav_scp)
    Path(wav_scp[utts[0]]).write_bytes(b"RIFF, but not really a wav file" * 20)
    Path(wav_scp[utts[1]]).write_bytes(b"")
    Path(wav_scp[utts[2]]).unlink()
    soundfile.write(wav_scp[utts[3]], tone_and_noise(800, 0), 16000, subtype="PCM_16")  # 0.05 s
    return {utts[0]: "cannot decode", utts[1]: "is empty", utts[2]: "not found", utts[3]: "0.05 s, outside [0.1"}


def test_pack_skips_and_lists_bad_audio(tmp_path, caplog):
    data = make_audio_data_dir(tmp_path, "train", 12)
    broken = _break_audio(data)
    caplog.set_level(logging.INFO)
    assert pack(str(data), str(tmp_path / "raw"), utts_per_shard=4, nj=2, max_bad_fraction=0.3)
    shard_set = ShardSet(tmp_path / "raw")
    assert sorted(r["id"] for r in all_records(shard_set)) == sorted(
        set(line.split()[0] for line in (data / "text").read_text().splitlines()) - set(broken))
    assert shard_set.index["skipped"] == {"bad_audio": 3, "duration": 1}
    skipped = dict(line.split(" ", 1) for line in (tmp_path / "raw" / "skipped").read_text().splitlines())
    assert sorted(skipped) == sorted(broken)
    for utt, how in broken.items():
        assert how in skipped[utt] and str(data / "wav.scp") in skipped[utt], skipped[utt]
        assert utt in caplog.text
    assert "skipped 3 utterance(s) for unusable audio" in caplog.text
    assert "skipped 1 utterance(s) for duration" in caplog.text


def test_pack_stops_on_too_much_bad_audio_and_keeps_nothing(tmp_path, caplog):
    data = make_audio_data_dir(tmp_path, "train", 12)
    wav_scp = dict(line.split(" ", 1) for line in (data / "wav.scp").read_text().splitlines())
    moved = {utt: Path(path).with_suffix(".away") for utt, path in sorted(wav_scp.items())[:2]}
    for utt, away in moved.items():  # 2 of 12 files missing: 17% > --max_bad_fraction 0.05 (the default)
        Path(wav_scp[utt]).rename(away)
    out = tmp_path / "raw"
    assert pack_shards.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1"]) == 1
    assert "2 of 12 utterances" in caplog.text and "--max_bad_fraction 0.05" in caplog.text
    assert not out.exists()
    # The files were only elsewhere (an unmounted disk, say): once back, the same command packs them all
    # rather than reusing shards that were packed without them.
    for utt, away in moved.items():
        away.rename(wav_scp[utt])
    assert pack_shards.main(["--data_dir", str(data), "--out_dir", str(out), "--nj", "1"]) == 0
    assert ShardSet(out).num_utts == 12


def test_pack_rerun_is_skipped_and_a_changed_input_repacks(tmp_path, caplog):
    data = make_audio_data_dir(tmp_path, "train", 6)
    out = tmp_path / "raw"
    assert pack(str(data), str(out), utts_per_shard=4, nj=1) is True
    caplog.set_level(logging.INFO)
    assert pack(str(data), str(out), utts_per_shard=4, nj=1) is False
    assert "already done with the same options and inputs" in caplog.text
    assert pack(str(data), str(out), utts_per_shard=2, nj=1) is True  # other options
    assert [s.utts for s in ShardSet(out).shards] == [2, 1, 2, 1]  # de 3, en 3
    text = data / "text"
    text.write_text(text.read_text().replace("katze", "kater"))
    assert pack(str(data), str(out), utts_per_shard=2, nj=1) is True  # other inputs
    assert any("kater" in r["text"] for r in all_records(ShardSet(out)))


def test_pack_killed_then_resumed_keeps_finished_shards_and_equals_an_uninterrupted_run(tmp_path, caplog):
    # Each utterance is read through a slow pipe, so the kill lands after some shards, before the last.
    data = make_audio_data_dir(tmp_path, "train", 12, langs=("de",))
    wav_scp = data / "wav.scp"
    wav_scp.write_text("".join(f"{utt} sleep 0.1; cat {path} |\n" for utt, path in
                               (line.split(" ", 1) for line in wav_scp.read_text().splitlines())))
    out = tmp_path / "raw"
    shards = out.with_name("raw.tmp") / "shards"
    cmd = [sys.executable, "-m", "part.bin.pack_shards", "--data_dir", str(data), "--out_dir", str(out),
           "--utts_per_shard", "2", "--nj", "1"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and len(list(shards.glob("*.jsonl"))) < 2:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr.decode(errors="replace")[-2000:]
    finished = sorted(p.stem for p in shards.glob("*.jsonl"))
    assert 2 <= len(finished) < 6 and not out.exists()
    mtimes = {f"{name}{suffix}": (shards / f"{name}{suffix}").stat().st_mtime_ns
              for name in finished for suffix in (".tar", ".jsonl")}

    caplog.set_level(logging.INFO)
    assert pack(str(data), str(out), utts_per_shard=2, nj=1) is True
    assert "resuming an interrupted run (finished shards are kept)" in caplog.text
    assert {name: (out / "shards" / name).stat().st_mtime_ns for name in mtimes} == mtimes  # not re-written
    reference = tmp_path / "reference"
    assert pack(str(data), str(reference), utts_per_shard=2, nj=1) is True
    assert json.loads((out / "index.json").read_text()) == json.loads((reference / "index.json").read_text())
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(p.name for p in (reference / "shards").iterdir())
    for path in (reference / "shards").iterdir():
        assert (out / "shards" / path.name).read_bytes() == path.read_bytes(), path.name


def test_pack_help_lists_every_option():
    text = pack_shards.get_parser().format_help()
    for option in ("--data_dir", "--out_dir", "--utts_per_shard", "--nj", "--sample_rate", "--policy",
                   "--min_duration", "--max_duration", "--max_bad_fraction"):
        assert option in text
    with pytest.raises(SystemExit) as info:
        pack_shards.main(["--help"])
    assert info.value.code == 0
