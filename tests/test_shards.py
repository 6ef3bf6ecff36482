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
  many stop the run, a missing shard stops it at start-up; a reader keeps few shard files open.
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
import re
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
import yaml

from helpers_tiny import (PROMPTS, REPO, SUBPROCESS_ENV, make_audio_data_dir, raw_train_args, shared_tiny_llm,
                          tone_and_noise, write_prompts)
from part.bin import pack_shards
from part.bin.pack_shards import pack
from part.data.audio import read_audio, resample
from part.data.examples import utterance_examples
from part.data.features import FeatureOptions
from part.data.sampler import ExampleStream, SamplerConf
from part.data.shards import DurationHistogram, ShardError, ShardSet, ShardWriter

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
    proc = subprocess.Popen(cmd, cwd=REPO, env=SUBPROCESS_ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    assert sorted(p.name for p in (out / "shards").iterdir()) == sorted(p.name for p in
                                                                        (reference / "shards").iterdir())
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


# ---------------------------------------------------------------------------------------------- features
@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The same kind of corpus twice: 16-bit wav files (packed as FLAC) and flac files (kept as they are)."""
    root = tmp_path_factory.mktemp("sources")
    out = {}
    for fmt in ("wav", "flac"):
        data = make_audio_data_dir(root / fmt, "train", 4, seed=7, seconds=(0.3, 1.2), audio_format=fmt)
        pack(str(data), str(root / fmt / "raw"), nj=1)
        out[fmt] = (data, ShardSet(root / fmt / "raw"))
    return out


@pytest.mark.parametrize("feature_type, bins", [("fbank", 80), ("whisper", 80), ("whisper", 128)])
@pytest.mark.parametrize("source", ["wav", "flac"])
def test_features_on_the_fly_equal_stage_2_dumps(sources, tmp_path, source, feature_type, bins):
    from part.bin import extract_feats
    from part.data.loader import BatchLoader

    data, shard_set = sources[source]
    assert {r["format"] for r in all_records(shard_set)} == {"flac"}
    dump = tmp_path / "dump"
    assert extract_feats.main(["--data_dir", str(data), "--out_dir", str(dump), "--nj", "1", "--feature_type",
                               feature_type, "--num_mel_bins", str(bins), "--compute_stats", "false"]) == 0
    dumped = dict(kaldiio.load_scp(str(dump / "feats.scp")))
    loader = BatchLoader(FeatureOptions(num_mel_bins=bins, feature_type=feature_type), preprocess=None)
    refs = [ref for batch in stream(shard_set, passes=1) for ref in batch]
    assert sorted(ref.id for ref in refs) == sorted(f"{utt}__asr" for utt in dumped)
    for ref in refs:
        expected = dumped[ref.id.split("__")[0]]
        speech = loader.example(ref)["speech"]
        assert speech.dtype == np.float32 and speech.shape == expected.shape and expected.shape[1] == bins
        np.testing.assert_allclose(speech, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------- sampler
def metadata_shard_set(root: Path, utts: Sequence[dict], utts_per_shard: int = 50) -> ShardSet:
    """A shard set in the format ``pack_shards`` writes (tars, manifests, index with duration quantiles) whose
    audio members are empty: the sampler reads metadata only, so its tests need no audio. ``utts``: dicts
    with id, lang, duration, text and translations."""
    from part.data.shards import FORMAT_NAME, FORMAT_VERSION, SHARD_DIR

    root = Path(root)
    (root / SHARD_DIR).mkdir(parents=True)
    by_lang: Dict[str, List[dict]] = {}
    for utt in utts:
        by_lang.setdefault(utt["lang"], []).append(utt)
    histogram, shards, langs = DurationHistogram(), [], {}
    for lang in sorted(by_lang):
        group = by_lang[lang]
        for k in range(0, len(group), utts_per_shard):
            chunk, name = group[k: k + utts_per_shard], f"{lang}-{k // utts_per_shard:06d}"
            writer = ShardWriter(root / SHARD_DIR, name)
            for utt in chunk:
                writer.add(dict(utt, spk=utt["id"].split("-")[0]), b"", "flac")
                histogram.add(utt["duration"])
            writer.close()
            translations = Counter(tgt for utt in chunk for tgt in utt["translations"])
            shards.append({"name": name, "lang": lang, "utts": len(chunk),
                           "seconds": round(sum(u["duration"] for u in chunk), 3), "translations": dict(translations)})
        langs[lang] = {"utts": len(group), "seconds": round(sum(u["duration"] for u in group), 3),
                       "translations": dict(Counter(tgt for utt in group for tgt in utt["translations"]))}
    index = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "sample_rate": 16000, "utts": len(utts),
             "seconds": round(sum(u["duration"] for u in utts), 3), "langs": langs,
             "skipped": {"bad_audio": 0, "duration": 0}, "duration_quantiles": histogram.quantiles(), "shards": shards}
    (root / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return ShardSet(root)


def synthetic_utts(lang: str, n: int, seed: int = 0, tgt: str = None, median_s: float = 4.0) -> List[dict]:
    """``n`` utterances of ``lang`` with lognormal durations (0.3-20 s), translated into ``tgt`` if given."""
    rng = np.random.default_rng(seed)
    durations = np.clip(rng.lognormal(np.log(median_s), 0.5, n), 0.3, 20.0)
    return [{"id": f"spk{i % 5}-{lang}{i:05d}", "lang": lang, "duration": round(float(d), 3),
             "text": f"{lang} satz nummer {i}", "translations": {tgt: f"sentence number {i}"} if tgt else {}}
            for i, d in enumerate(durations)]


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory):
    """30 German utterances translated into English, 20 English ones into German, in shards of 7."""
    return metadata_shard_set(tmp_path_factory.mktemp("bilingual"),
                              synthetic_utts("de", 30, 1, "en") + synthetic_utts("en", 20, 2, "de"), utts_per_shard=7)


def test_a_single_pass_reads_every_example_exactly_once(bilingual):
    ids = [uid for batch in batch_ids(stream(bilingual, ALL_TASKS, passes=1, max_duration=12.0, num_buckets=3))
           for uid in batch]
    assert len(ids) == len(set(ids)) == 50 * 3
    assert sorted(ids) == expected_examples(all_records(bilingual), ALL_TASKS)


@pytest.mark.parametrize("shuffle", [False, True])
def test_a_training_stream_is_a_sequence_of_passes(tmp_path, shuffle):
    # One bucket and 5 examples per batch: batches cut the stream without holding examples back, so the
    # first 3 x 60 examples are 3 passes over the 60 utterances (give or take the 5-slot shuffle buffer).
    shard_set = metadata_shard_set(tmp_path, synthetic_utts("de", 60), utts_per_shard=8)
    manifest_order = [f"{r['id']}__asr" for r in all_records(shard_set)]
    examples = stream(shard_set, seed=3, shuffle=shuffle, num_buckets=1, max_examples=5, max_duration=1e6,
                      buffer_size=5)
    ids = [uid for _ in range(36) for uid in (ex.id for ex in next(examples))]
    counts = Counter(ids)
    assert len(ids) == 180 and sorted(counts) == sorted(manifest_order)
    if shuffle:
        assert set(counts.values()) <= {2, 3, 4}, counts
        passes = [ids[k * 60: (k + 1) * 60] for k in range(3)]
        assert passes[0] != manifest_order and passes[1] != passes[0]
    else:
        assert ids == manifest_order * 3


def test_examples_follow_tasks_and_directions(tmp_path):
    utts = [dict(id="spk1-a", lang="de", duration=2.0, text="guten morgen", translations={"en": "good morning"}),
            dict(id="spk2-b", lang="en", duration=3.0, text="good night", translations={"de": "gute nacht"}),
            dict(id="spk3-c", lang="fr", duration=1.0, text="bonjour", translations={"de": "guten tag"})]
    shard_set = metadata_shard_set(tmp_path, utts)

    def examples(tasks, directions):
        s = ExampleStream(shard_set, PROMPTS, directions, SamplerConf(max_duration=100.0), 0, lambda g: tasks, 1)
        return {ex.id: ex for batch in s for ex in batch}

    every = examples(ALL_TASKS, ["*-en", "en-*"])
    assert sorted(every) == ["spk1-a__asr", "spk1-a__mt_en", "spk1-a__s2tt_en", "spk2-b__asr", "spk2-b__mt_de",
                             "spk2-b__s2tt_de", "spk3-c__asr"]  # fr-de is not an allowed direction
    s2tt, mt = every["spk1-a__s2tt_en"], every["spk1-a__mt_en"]
    assert (s2tt.task, s2tt.src, s2tt.tgt, s2tt.target, s2tt.duration) == ("s2tt", "de", "en", "good morning", 2.0)
    assert s2tt.prompt == "<speech><|de|><|translate|><|en|>" and s2tt.shard.endswith("de-000000.tar")
    assert (mt.shard, mt.duration, mt.prompt) == (None, 0.0, "guten morgen<|de|><|translate|><|en|>")
    assert mt.cost(15.0) == pytest.approx((len(mt.prompt) + len("good morning")) / 15.0)
    assert every["spk2-b__asr"].target == "good night" and every["spk2-b__asr"].tgt == "en"
    assert sorted(examples(["asr", "s2tt"], ["*-en"])) == [
        "spk1-a__asr", "spk1-a__s2tt_en", "spk2-b__asr", "spk3-c__asr"]
    assert sorted(examples(["mt"], ["fr-*"])) == ["spk3-c__mt_de"]


def test_batches_respect_max_duration_and_max_examples_and_pad_less_than_fixed_batches(bilingual):
    from part.data.sampler import fixed_size_batches, padding_ratio

    batches = [next(s) for s in [stream(bilingual, ALL_TASKS, max_duration=20.0, max_examples=6, num_buckets=5)]
               for _ in range(150)]
    for batch in batches:
        costs = [ex.cost(15.0) for ex in batch]
        assert len(batch) <= 6
        assert len(batch) == 1 or len(batch) * max(costs) <= 20.0 + 1e-9, costs
    speech = [[ex.duration for ex in batch if ex.shard] for batch in batches]
    bucketed = padding_ratio([b for b in speech if b])
    durations = [d for b in speech for d in b]
    fixed = padding_ratio(fixed_size_batches(durations, round(len(durations) / sum(1 for b in speech if b))))
    assert bucketed < fixed / 2, (bucketed, fixed)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_same_seed_gives_the_same_batches_and_another_seed_others(bilingual, temperature):
    def first_batches(seed):
        s = stream(bilingual, ALL_TASKS, seed=seed, temperature=temperature, max_duration=10.0, buffer_size=20)
        return batch_ids(next(s) for _ in range(40))

    assert first_batches(1) == first_batches(1)
    assert first_batches(2) != first_batches(1)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_skip_then_next_is_the_next_batch(bilingual, temperature):
    conf = dict(temperature=temperature, max_duration=10.0, buffer_size=20)
    reference = stream(bilingual, ALL_TASKS, seed=5, **conf)
    batches = batch_ids(next(reference) for _ in range(31))
    resumed = stream(bilingual, ALL_TASKS, seed=5, **conf)
    resumed.skip(30)
    assert resumed.emitted == 30
    assert [ex.id for ex in next(resumed)] == batches[30]
    assert resumed.emitted == reference.emitted == 31


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_a_task_schedule_changing_mid_stream_is_honoured(bilingual, temperature):
    def tasks_at(g):  # speech translation and MT join at global batch 5 and leave at 20
        return ALL_TASKS if 5 <= g < 20 else ["asr"]

    s = stream(bilingual, tasks_at=tasks_at, temperature=temperature, max_duration=10.0, num_buckets=4,
               buffer_size=20)
    seen = {}
    for _ in range(40):
        batch = next(s)
        g = s.emitted - 1  # the global index of the batch just emitted
        seen[g] = {ex.task for ex in batch}
        assert seen[g] <= set(tasks_at(g)), (g, seen[g])
    assert set().union(*(seen[g] for g in range(5, 20))) == set(ALL_TASKS)
    # The s2tt and mt examples still waiting in their buckets at batch 20 are dropped, and counted.
    assert s.dropped_by_schedule > 0


@pytest.mark.parametrize("temperature, weights", [(1.0, {}), (100.0, {}), (100.0, {"de": 3}), (1.0, {"fr/asr": 9})])
def test_temperature_sampling_of_languages(tmp_path, temperature, weights):
    shard_set = metadata_shard_set(tmp_path, synthetic_utts("de", 900, 1, median_s=2.0)
                                   + synthetic_utts("fr", 100, 2, median_s=2.0), utts_per_shard=100)
    s = stream(shard_set, temperature=temperature, weights=weights, max_duration=30.0, buffer_size=200)
    langs = Counter()
    while sum(langs.values()) < 4000:
        langs.update(ex.src for ex in next(s))
    rate = {lang: weights.get(lang, 1.0) * weights.get(f"{lang}/asr", 1.0) * n ** (1 / temperature)
            for lang, n in (("de", 900), ("fr", 100))}
    expected = rate["de"] / (rate["de"] + rate["fr"])  # 0.9, 0.505, 0.754, 0.5
    assert langs["de"] / sum(langs.values()) == pytest.approx(expected, abs=0.03)


# ---------------------------------------------------------------------------------------------- loader
def _valid_factory(shard_set: ShardSet, llm: Path, log_dir: Path, tasks=("asr",), max_bad_fraction=0.001,
                   num_workers=1):
    """The loader of one validation pass over ``shard_set`` (what ``--valid_shards`` builds)."""
    from part.data.batch import ExamplePreprocessor
    from part.data.loader import BatchLoader, ShardIterFactory

    loader = BatchLoader(FeatureOptions(), ExamplePreprocessor(str(llm)))
    return ShardIterFactory(lambda: stream(shard_set, tasks, passes=1, max_duration=3.0), loader, None,
                            num_workers=num_workers, max_bad_fraction=max_bad_fraction, log_dir=str(log_dir),
                            mode="valid")


def _corrupt(record: dict) -> None:
    """Overwrite the audio member's bytes inside its tar (a bad sector, a broken copy)."""
    with open(record["shard"], "r+b") as f:
        f.seek(record["offset"])
        f.write(bytes(record["size"]))


def test_a_corrupt_member_is_skipped_with_a_warning_naming_shard_and_utterance(tmp_path, llm, caplog):
    pack(str(make_audio_data_dir(tmp_path, "train", 8)), str(tmp_path / "raw"), utts_per_shard=3, nj=1)
    shard_set = ShardSet(tmp_path / "raw")
    bad = all_records(shard_set)[4]
    _corrupt(bad)
    caplog.set_level(logging.INFO)
    factory = _valid_factory(shard_set, llm, tmp_path / "data_log")
    ids = [uid for batch_ids_, _ in factory.build_iter(1) for uid in batch_ids_]
    assert sorted(ids) == sorted(f"{r['id']}__asr" for r in all_records(shard_set) if r["id"] != bad["id"])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and bad["shard"] in warnings[0] and f"'{bad['id']}'" in warnings[0], warnings
    log = json.loads((tmp_path / "data_log" / "valid_epoch1.json").read_text())
    assert (log["bad"], log["examples"], factory.bad_examples) == (1, 7, 1)
    assert "1 unreadable example(s) skipped" in caplog.text


def test_too_much_bad_data_stops_the_run(tmp_path, llm):
    from part.data.loader import MIN_BAD_TO_STOP, BadDataError

    pack(str(make_audio_data_dir(tmp_path, "train", 24)), str(tmp_path / "raw"), utts_per_shard=6, nj=1)
    shard_set = ShardSet(tmp_path / "raw")
    for record in all_records(shard_set)[::2]:  # 12 utterances: 24 bad asr + s2tt examples
        _corrupt(record)
    assert 24 >= MIN_BAD_TO_STOP
    tasks = ("asr", "s2tt")
    with pytest.raises(BadDataError, match=r"could not be used \(more than max_bad_fraction 0.1\)"):
        list(_valid_factory(shard_set, llm, tmp_path / "log1", tasks, max_bad_fraction=0.1).build_iter(1))
    tolerant = _valid_factory(shard_set, llm, tmp_path / "log2", tasks, max_bad_fraction=0.6)
    assert sum(len(ids) for ids, _ in tolerant.build_iter(1)) == 24
    assert json.loads((tmp_path / "log2" / "valid_epoch1.json").read_text())["bad"] == 24


def test_a_reader_keeps_a_bounded_number_of_shard_files_open(tmp_path, monkeypatch):
    # An epoch over a large set touches thousands of shards: a file left open per shard would pass the
    # process's limit (often 1024), and every utterance of a shard opened after that would count as bad.
    from part.data import shards

    pack(str(make_audio_data_dir(tmp_path, "train", 12)), str(tmp_path / "raw"), utts_per_shard=1, nj=1)
    monkeypatch.setattr(shards, "MAX_OPEN_SHARDS", 4)
    records, handles = all_records(ShardSet(tmp_path / "raw")), {}
    assert len({r["shard"] for r in records}) == 12
    for record in records + records[::-1]:
        assert len(shards.load_audio(record, 16000, handles)) / 16000 == pytest.approx(record["duration"], abs=1e-4)
        assert len(handles) <= 4 and not any(f.closed for f in handles.values())
    assert list(handles) == [r["shard"] for r in records[3::-1]]  # the 4 used last, the most recent last


def _factory_args(train: Path, valid: Path, prompts: Path, llm: Path, **options) -> SimpleNamespace:
    """The options of ``part_train`` that ``shard_iter_factory`` reads."""
    args = dict(train_shards=str(train), valid_shards=str(valid), prompts=str(prompts), llm_path=str(llm),
                data_conf={}, feature_conf={}, input_size=80, encoder="conformer", model_type="speech_llm",
                num_iters_per_epoch=None, num_workers=0, seed=0, schedule_conf={}, output_dir=None)
    args.update(options)
    return SimpleNamespace(**args)


def test_a_missing_shard_is_an_error_at_start_up(tmp_path, llm):
    from part.data.batch import ExamplePreprocessor
    from part.data.loader import shard_iter_factory

    pack(str(make_audio_data_dir(tmp_path, "train", 8)), str(tmp_path / "raw"), utts_per_shard=3, nj=1)
    (tmp_path / "raw" / "shards" / "en-000000.tar").unlink()
    with pytest.raises(ShardError, match=r"1 shard\(s\) listed in index.json are missing .*: en-000000\. Restore"):
        ShardSet(tmp_path / "raw")
    args = _factory_args(tmp_path / "raw", tmp_path / "raw", write_prompts(tmp_path / "prompts.yaml"), llm,
                         num_iters_per_epoch=2)
    option = SimpleNamespace(distributed=False)
    with pytest.raises(ShardError, match="en-000000"):
        shard_iter_factory(args, option, "train", ExamplePreprocessor(str(llm)))
    with pytest.raises(ShardError, match="index.json is missing"):
        ShardSet(tmp_path)


# ---------------------------------------------------------------------------------------------- ranks
@pytest.fixture(scope="module")
def raw_world(tmp_path_factory, llm):
    """24 training and 6 validation utterances (de and en, with translations), packed in shards of 5."""
    root = tmp_path_factory.mktemp("raw_world")
    for name, n, seed in (("train", 24, 1), ("dev", 6, 2)):
        pack(str(make_audio_data_dir(root, name, n, seed)), str(root / "dump" / "raw" / name), utts_per_shard=5,
             nj=1)
    return dict(root=root, llm=llm, prompts=write_prompts(root / "conf" / "prompts.yaml"),
                train=root / "dump" / "raw" / "train", dev=root / "dump" / "raw" / "dev")


# What each of two ranks reads: a validation pass (every task); training epochs 1 and 2 that are
# exactly one unshuffled pass (24 utterances in batches of 3: 8 global batches, 4 per rank); shuffled
# training epochs of every task.
RANK_RUNS = [
    ("valid", "valid", dict(data_conf=dict(tasks=ALL_TASKS, max_duration=3.0)), [1]),
    ("pass", "train", dict(num_iters_per_epoch=4, data_conf=dict(tasks=["asr"], shuffle=False, num_buckets=1,
                                                                 max_examples=3, max_duration=1000.0)), [1, 2]),
    ("shuffled", "train", dict(num_iters_per_epoch=3, seed=4,
                               data_conf=dict(tasks=ALL_TASKS, max_duration=6.0, buffer_size=10)), [1, 2]),
]


def _read_as_rank(rank: int, setup: str) -> None:
    """One of two gloo ranks: the example ids each epoch of ``RANK_RUNS`` gives this rank through
    ``shard_iter_factory`` with 2 loader workers, gathered from both ranks; rank 0 writes them out.
    ``setup``: a JSON file with the world's paths, the rendezvous and the result file."""
    import torch.distributed as dist

    from part.data.batch import ExamplePreprocessor
    from part.data.loader import shard_iter_factory

    setup = json.loads(Path(setup).read_text())
    world = setup["world"]
    dist.init_process_group("gloo", init_method=setup["init_method"], rank=rank, world_size=2)
    option = SimpleNamespace(distributed=True, dist_world_size=2, dist_rank=rank)
    preprocess = ExamplePreprocessor(world["llm"])
    preprocess.tokenizer  # loaded before the workers fork, as in a training process (which has the LLM)
    gathered = {}
    for name, mode, options, epochs in RANK_RUNS:
        args = _factory_args(world["train"], world["dev"], world["prompts"], world["llm"], num_workers=2, **options)
        factory = shard_iter_factory(args, option, mode, preprocess)
        for epoch in epochs:
            ids = [uid for batch, _ in factory.build_iter(epoch) for uid in batch]
            both = [None, None]
            dist.all_gather_object(both, ids)
            gathered[f"{name}{epoch}"] = both
    if rank == 0:
        Path(setup["result"]).write_text(json.dumps(gathered))
    dist.destroy_process_group()


def test_two_ranks_with_two_workers_each_read_every_example_once(raw_world, tmp_path):
    # Plain subprocesses rather than torch.multiprocessing.spawn: a spawned process starts its own loader
    # workers by spawning too, each importing everything again (seconds per epoch on a small machine).
    result = tmp_path / "ids.json"
    setup = tmp_path / "setup.json"
    setup.write_text(json.dumps({"world": {k: str(v) for k, v in raw_world.items()},
                                 "init_method": f"file://{tmp_path / 'rendezvous'}", "result": str(result)}))
    env = dict(SUBPROCESS_ENV, PYTHONPATH=f"{REPO}{os.pathsep}{REPO / 'tests'}")
    code = "import sys, test_shards; test_shards._read_as_rank(int(sys.argv[1]), sys.argv[2])"
    ranks = [subprocess.Popen([sys.executable, "-c", code, str(rank), str(setup)], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for rank in (0, 1)]
    try:
        errors = [proc.communicate(timeout=300)[1].decode(errors="replace") for proc in ranks]
    finally:
        for proc in ranks:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in ranks] == [0, 0], "\n".join(e[-3000:] for e in errors)
    gathered = json.loads(result.read_text())

    def check_split(rank0, rank1, expected):
        assert rank0 and rank1 and not set(rank0) & set(rank1)
        assert sorted(rank0 + rank1) == sorted(expected)

    check_split(*gathered["valid1"], expected_examples(all_records(ShardSet(raw_world["dev"])), ALL_TASKS))
    for epoch in (1, 2):
        check_split(*gathered[f"pass{epoch}"], expected_examples(all_records(ShardSet(raw_world["train"])), ["asr"]))
    # Shuffled epochs: together the ranks read the single stream's batches in turn (rank r: g % 2 == r).
    single = stream(ShardSet(raw_world["train"]), ALL_TASKS, seed=4, max_duration=6.0, buffer_size=10)
    batches = batch_ids(next(single) for _ in range(12))
    for epoch in (1, 2):
        first = (epoch - 1) * 6
        assert gathered[f"shuffled{epoch}"] == [[uid for b in batches[first + r: first + 6: 2] for uid in b]
                                                for r in (0, 1)]


# ---------------------------------------------------------------------------------------------- training
def _train_config() -> str:
    """The kill-and-resume scenario of tests/test_resilience.py (two epochs, the encoder joins in epoch 2,
    warm-up and dropout states must resume) on shards: 3 updates an epoch, and speech translation and MT
    join in epoch 2 too (the task schedule must reach the streaming sampler)."""
    from test_resilience import CONFIG

    config = yaml.safe_load(CONFIG)
    config["num_iters_per_epoch"] = 3
    config["schedule_conf"]["tasks"] = {1: ["asr"], 2: ["asr", "s2tt", "mt"]}
    config["data_conf"] = {"max_duration": 3.0, "buffer_size": 8}
    return yaml.safe_dump(config)


def _raw_train_args(world, out: Path) -> List[str]:
    config = world["root"] / "conf" / "train.yaml"
    config.write_text(_train_config(), encoding="utf-8")
    args = raw_train_args(world["train"], world["dev"], world["prompts"], world["llm"], out)
    args = [a.replace("num_blocks=2", "num_blocks=1") for a in args]
    return ["--config", str(config), *args, "--encoder_conf", "dropout_rate=0.1", "--num_workers", "2",
            "--resume", "true"]


@pytest.fixture(scope="module")
def killed_and_reference(raw_world, one_thread):
    """A run on the shards killed with SIGKILL in epoch 2 (a subprocess) and, meanwhile, an uninterrupted one."""
    from test_resilience import _start_and_kill_in_epoch_2, run_training

    killed, reference = raw_world["root"] / "exp" / "killed", raw_world["root"] / "exp" / "reference"
    proc, thread, log = _start_and_kill_in_epoch_2(raw_world, killed, _raw_train_args(raw_world, killed))
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.setLevel(logging.INFO)  # as in a recipe's process: INFO lines reach the run's train.log
    try:
        assert run_training(reference, _raw_train_args(raw_world, reference)) == 0
    finally:
        root_logger.setLevel(level)
        thread.join(timeout=300)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it was killed:\n" + log.read_text()[-3000:]
    return killed, reference


def _data_logs(out: Path) -> Dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "data_log").glob("*.json"))}


def test_training_on_shards_logs_each_epochs_data(killed_and_reference):
    _, out = killed_and_reference
    logs = _data_logs(out)
    assert sorted(logs) == ["train_epoch1", "train_epoch2", "valid_epoch1", "valid_epoch2"]
    train1, train2 = logs["train_epoch1"], logs["train_epoch2"]
    assert (train1["batches"], train1["stream_position"]) == (3, 3)
    assert (train2["batches"], train2["stream_position"]) == (3, 6)  # epoch 2 continues where epoch 1 stopped
    assert set(train1["tasks"]) == {"asr"} and set(train2["tasks"]) > {"asr"}  # the task schedule
    assert train1["ids_sha1"] != train2["ids_sha1"] and train1["bad"] == train2["bad"] == 0
    assert 0.0 <= train1["padding"] < 0.5 and train1["audio_seconds"] > 0
    # Validation: the same single pass over the dev set every epoch, every task.
    assert logs["valid_epoch1"]["ids_sha1"] == logs["valid_epoch2"]["ids_sha1"]
    assert logs["valid_epoch1"]["examples"] == 6 * 3
    log = (out / "train.log").read_text(encoding="utf-8")
    for epoch in (1, 2):
        assert f"train data, epoch {epoch}: 3 batches" in log and f"valid data, epoch {epoch}:" in log
    padding = re.findall(r"train data, epoch \d: .*, speech padding (\d+\.\d)%", log)
    assert padding == [f"{100 * train1['padding']:.1f}", f"{100 * train2['padding']:.1f}"]


def test_killed_in_epoch_2_then_resumed_reads_the_same_data_and_ends_with_the_same_weights(
        raw_world, killed_and_reference, caplog):
    from test_resilience import assert_same_weights, run_training

    killed, reference = killed_and_reference
    assert sorted(_data_logs(killed)) == ["train_epoch1", "valid_epoch1"]  # killed inside epoch 2
    caplog.set_level(logging.INFO)
    assert run_training(killed, _raw_train_args(raw_world, killed)) == 0
    assert "continuing at epoch 2" in caplog.text
    assert "train data: skipping the 3 batches of epochs 1-1 (metadata only)" in caplog.text
    resumed, uninterrupted = _data_logs(killed), _data_logs(reference)
    assert sorted(resumed) == sorted(uninterrupted)
    for name in resumed:
        assert resumed[name]["ids_sha1"] == uninterrupted[name]["ids_sha1"], name
        assert resumed[name]["stream_position"] == uninterrupted[name]["stream_position"], name
    assert_same_weights(reference / "2epoch.pth", killed / "2epoch.pth")
