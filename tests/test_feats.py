"""Feature extraction (python -m part.bin.extract_feats): shapes, frame counts, CMVN stats, copies of
the text files, length filtering, skip/recompute, and that bad inputs fail before writing anything."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from part.bin import extract_feats as ef
from part.data.audio import read_audio
from part.data.features import FeatureOptions, compute_features
from test_datadir import BAD_INPUTS, _segmented_dir, lines, make_data_dir, write_wav

REPO = Path(__file__).resolve().parents[1]
LENGTHS = {"spk1-a": 16000, "spk1-b": 12345, "spk2-a": 1000, "spk2-b": 20000}  # spk2-a: 4 frames


def expected_frames(num_samples: int) -> int:
    return 1 + (num_samples - 400) // 160


def run(data_path: Path, out: Path, *extra: str) -> int:
    return ef.main(["--data_dir", str(data_path), "--out_dir", str(out), "--nj", "1", *extra])


@pytest.fixture
def extracted(tmp_path):
    data_path = make_data_dir(tmp_path, LENGTHS)
    out = tmp_path / "dump" / "fbank" / "train"
    assert run(data_path, out) == 0
    return data_path, out


def test_features_shapes_and_copies(extracted):
    data_path, out = extracted
    feats = dict(kaldiio.load_scp(str(out / "feats.scp")))
    assert sorted(feats) == ["spk1-a", "spk1-b", "spk2-b"]  # spk2-a is too short (4 < 10 frames)
    for utt, mat in feats.items():
        assert mat.dtype == np.float32 and mat.shape == (expected_frames(LENGTHS[utt]), 80)
        assert np.isfinite(mat).all()
    assert lines(out / "utt2num_frames") == [f"{u} {expected_frames(LENGTHS[u])}" for u in sorted(feats)]
    assert (out / "feat_dim").read_text().strip() == "80"
    assert lines(out / "dropped_utts") == ["spk2-a shorter than --min_frames 10 (4 frames)"]
    assert [line.split()[0] for line in lines(out / "feats.scp")] == sorted(feats)
    assert all(str(out / "data" / "feats.1.ark") in line for line in lines(out / "feats.scp"))
    for name in ("text", "utt2lang", "utt2spk"):
        assert lines(out / name) == [line for line in lines(data_path / name) if not line.startswith("spk2-a ")]
    assert lines(out / "spk2utt") == ["spk1 spk1-a spk1-b", "spk2 spk2-b"]
    assert lines(out / "text.en") == ["spk2-b english for spk2-b"]
    done = json.loads((out / ".done").read_text())
    assert done["summary"]["num_utts"] == 3 and done["identity"]["options"]["num_mel_bins"] == 80
    assert not (out.parent / "train.tmp").exists()


def test_stats_match_numpy(extracted):
    _, out = extracted
    feats = np.concatenate([m for _, m in kaldiio.load_scp(str(out / "feats.scp")).items()]).astype(np.float64)
    stats = np.load(out / "feats_stats.npz")
    assert int(stats["count"]) == feats.shape[0]
    np.testing.assert_allclose(stats["sum"], feats.sum(axis=0), rtol=1e-6)
    np.testing.assert_allclose(stats["sum_square"], (feats ** 2).sum(axis=0), rtol=1e-6)
    mean = stats["sum"] / stats["count"]
    var = stats["sum_square"] / stats["count"] - mean ** 2
    assert (var > 0).all()


def test_features_are_kaldi_fbank_of_int16_scaled_audio(extracted, tmp_path):
    import torch
    from torchaudio.compliance.kaldi import fbank

    data_path, out = extracted
    samples = read_audio(str(tmp_path / "wav" / "spk1-b.wav"))
    reference = fbank(torch.from_numpy(samples * 32768.0).unsqueeze(0), num_mel_bins=80, dither=0.0).numpy()
    np.testing.assert_allclose(kaldiio.load_scp(str(out / "feats.scp"))["spk1-b"], reference, rtol=1e-5, atol=1e-4)


def test_rerun_skips_and_other_options_recompute(extracted, caplog):
    data_path, out = extracted
    ark = out / "data" / "feats.1.ark"
    stamp = ark.stat().st_mtime_ns
    with caplog.at_level(logging.INFO):
        assert run(data_path, out, "--nj", "3") == 0  # --nj does not change the result: still done
    assert "skipped" in caplog.text and ark.stat().st_mtime_ns == stamp
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert run(data_path, out, "--num_mel_bins", "40", "--compute_stats", "false") == 0
    assert "recomputing" in caplog.text
    assert (out / "feat_dim").read_text().strip() == "40"
    assert kaldiio.load_scp(str(out / "feats.scp"))["spk1-a"].shape == (98, 40)
    assert not (out / "feats_stats.npz").exists()
    # a changed data dir is recomputed too, even with the same options
    (data_path / "text").write_text((data_path / "text").read_text().replace("words", "other words"))
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert run(data_path, out, "--num_mel_bins", "40", "--compute_stats", "false") == 0
    assert "recomputing" in caplog.text and "other words" in (out / "text").read_text()


def test_two_jobs_give_the_same_features(extracted, tmp_path):
    data_path, out1 = extracted
    out2 = tmp_path / "dump" / "fbank" / "train_nj2"
    assert ef.main(["--data_dir", str(data_path), "--out_dir", str(out2), "--nj", "2"]) == 0
    assert sorted((out2 / "data").iterdir()) == [out2 / "data" / "feats.1.ark", out2 / "data" / "feats.2.ark"]
    one, two = kaldiio.load_scp(str(out1 / "feats.scp")), kaldiio.load_scp(str(out2 / "feats.scp"))
    assert sorted(one) == sorted(two)
    for utt in one:
        np.testing.assert_array_equal(one[utt], two[utt])
    for name in ("utt2num_frames", "text", "spk2utt"):
        assert lines(out1 / name) == lines(out2 / name)
    s1, s2 = np.load(out1 / "feats_stats.npz"), np.load(out2 / "feats_stats.npz")
    np.testing.assert_allclose(s1["sum"], s2["sum"], rtol=1e-9)


def test_segments_and_pipes(tmp_path):
    data_path = _segmented_dir(tmp_path)
    wav, runs = tmp_path / "wav" / "rec1.wav", tmp_path / "runs"
    (data_path / "wav.scp").write_text(f"rec1 echo run >> {runs}; cat {wav} |\n")
    out = tmp_path / "fbank"
    assert run(data_path, out) == 0
    assert lines(out / "utt2num_frames") == ["spk1-rec1-0000-0100 98", "spk1-rec1-0150-0250 98"]
    assert len(lines(runs)) == 2  # once to validate, once for both segments
    whole = read_audio(str(wav))
    expected = compute_features(whole[24000:40000], FeatureOptions())
    np.testing.assert_array_equal(kaldiio.load_scp(str(out / "feats.scp"))["spk1-rec1-0150-0250"], expected)


def test_resample_policy(tmp_path):
    data_path = make_data_dir(tmp_path, LENGTHS)
    write_wav(tmp_path / "wav" / "spk1-b.wav", 8000, sample_rate=8000)
    out = tmp_path / "fbank"
    assert run(data_path, out) == 1 and not out.exists()
    assert run(data_path, out, "--policy", "resample") == 0
    assert f"spk1-b {expected_frames(16000)}" in lines(out / "utt2num_frames")


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_before_any_work(tmp_path, caplog, case):
    breaker, _, (file, line, key, *_) = BAD_INPUTS[case]
    data_path = make_data_dir(tmp_path, LENGTHS)
    breaker(tmp_path, data_path)
    out = tmp_path / "dump" / "fbank" / "train"
    with caplog.at_level(logging.INFO):
        assert run(data_path, out) == 1
    location = f"{data_path / file}:{line}: " if line else f"{data_path / file}: "
    assert location in caplog.text and (key is None or f"'{key}'" in caplog.text)
    assert "nothing was written" in caplog.text
    assert not (tmp_path / "dump" / "fbank").exists() or not any((tmp_path / "dump" / "fbank").iterdir())


def test_nothing_left_after_filtering_fails(tmp_path, caplog):
    data_path = make_data_dir(tmp_path, LENGTHS)
    out = tmp_path / "fbank"
    with caplog.at_level(logging.INFO):
        assert run(data_path, out, "--min_frames", "500") == 1
    assert "no utterance" in caplog.text and "4 shorter than 500 frames" in caplog.text
    assert not out.exists() and not (tmp_path / "fbank.tmp").exists()


@pytest.mark.parametrize("nj", ["1", "2"])
def test_audio_failing_during_extraction_leaves_nothing(tmp_path, caplog, nj):
    # The pipe works once (validation) and fails the second time (extraction).
    data_path = make_data_dir(tmp_path, LENGTHS)
    seen = tmp_path / "seen"
    entry = f"if [ -e {seen} ]; then exit 3; fi; touch {seen}; cat {tmp_path / 'wav' / 'spk1-b.wav'} |"
    (data_path / "wav.scp").write_text((data_path / "wav.scp").read_text().replace(
        f"{tmp_path / 'wav' / 'spk1-b.wav'}\n", entry + "\n"))
    out = tmp_path / "fbank"
    with caplog.at_level(logging.INFO):
        assert run(data_path, out, "--nj", nj) == 1
    assert "utterance 'spk1-b'" in caplog.text and "exit status 3" in caplog.text
    assert not out.exists() and not (tmp_path / "fbank.tmp").exists()


def test_leftover_tmp_dir_is_replaced(tmp_path):
    data_path = make_data_dir(tmp_path, LENGTHS)
    out = tmp_path / "fbank"
    (tmp_path / "fbank.tmp").mkdir()
    (tmp_path / "fbank.tmp" / "junk").write_text("from a killed run")
    assert run(data_path, out) == 0
    assert not (tmp_path / "fbank.tmp").exists() and not (out / "junk").exists()


def _env():
    return dict(os.environ, PYTHONPATH=str(REPO), PYTHONIOENCODING="UTF-8")


def test_cli_help_lists_every_option():
    proc = subprocess.run([sys.executable, "-m", "part.bin.extract_feats", "--help"], capture_output=True,
                          text=True, env=_env(), cwd=REPO)
    assert proc.returncode == 0
    for action in ef.get_parser()._actions:
        for option in action.option_strings:
            assert option in proc.stdout


@pytest.mark.parametrize("nj", ["1", "2"])
def test_cli_killed_run_leaves_nothing_half_written(tmp_path, nj):
    # The second read of spk1-b (during extraction, after validation) blocks; the run is then killed.
    data_path = make_data_dir(tmp_path, LENGTHS)
    seen = tmp_path / "seen"
    wav = tmp_path / "wav" / "spk1-b.wav"
    entry = f"if [ -e {seen} ]; then exec sleep 60; fi; touch {seen}; cat {wav} |"
    (data_path / "wav.scp").write_text((data_path / "wav.scp").read_text().replace(f"{wav}\n", entry + "\n"))
    out = tmp_path / "fbank"
    proc = subprocess.Popen(
        [sys.executable, "-m", "part.bin.extract_feats", "--data_dir", str(data_path), "--out_dir", str(out),
         "--nj", nj], env=_env(), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (seen.exists() and (tmp_path / "fbank.tmp").exists()) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the extraction is now waiting on the sleeping pipe
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0].decode()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session started for this run only
        except ProcessLookupError:
            pass
    assert proc.returncode != 0, output
    assert not out.exists() and not (tmp_path / "fbank.tmp").exists(), output
