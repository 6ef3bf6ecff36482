"""Kaldi data dirs: validation of every kind of bad input, reading, writing, fixing; audio reading.

Every test builds its own tiny data dir with generated audio under tmp_path. The helpers
``write_wav`` and ``make_data_dir`` are also used by tests/test_feats.py and tests/test_utils_sh.py.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import pytest
import soundfile

from part.bin import datadir as datadir_cli
from part.data import datadir as dd
from part.data.audio import AudioError, audio_info, read_audio, read_audio_with_info
from part.data.datadir import DataDirError, fix_data_dir, load_data_dir, validate_data_dir, write_data_dir

# ----------------------------------------------------------------------------------------------
# Helpers


def write_wav(path: Path, num_samples: int, sample_rate: int = 16000, channels: int = 1, seed: int = 0,
              **kwargs) -> np.ndarray:
    """A sine plus a little noise (so that no fbank bin is silent); returns the samples written."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / sample_rate
    mono = 0.3 * np.sin(2 * np.pi * (220 + 40 * seed) * t) + 0.01 * rng.standard_normal(num_samples)
    data = np.stack([mono * (c + 1) / channels for c in range(channels)], axis=1) if channels > 1 else mono
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), data.astype(np.float32), sample_rate, **kwargs)
    return data


def _write(path: Path, lines: Sequence[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def make_data_dir(root: Path, num_samples: Optional[Dict[str, int]] = None, langs: Sequence[str] = ("en", "de"),
                  translations: bool = True, name: str = "train") -> Path:
    """A valid data dir ``root/data/<name>`` with wavs in ``root/wav``; paths in wav.scp are absolute.

    ``num_samples`` maps utterance id (``spk-rest``) to its length; by default 2 speakers x 2 utterances.
    Speaker i speaks ``langs[i % len(langs)]``; with ``translations`` each non-English utterance has
    an English translation in ``text.en``.
    """
    if num_samples is None:
        num_samples = {"spk1-a": 16000, "spk1-b": 12000, "spk2-a": 8000, "spk2-b": 20000}
    data = root / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    utts = sorted(num_samples)
    speakers = sorted({u.split("-")[0] for u in utts})
    lang_of = {u: langs[speakers.index(u.split("-")[0]) % len(langs)] for u in utts}
    for i, utt in enumerate(utts):
        write_wav(root / "wav" / f"{utt}.wav", num_samples[utt], seed=i)
    _write(data / "wav.scp", [f"{u} {root / 'wav' / (u + '.wav')}" for u in utts])
    _write(data / "text", [f"{u} words of {u} in {lang_of[u]}" for u in utts])
    _write(data / "utt2spk", [f"{u} {u.split('-')[0]}" for u in utts])
    _write(data / "spk2utt", [f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}" for s in speakers])
    _write(data / "utt2lang", [f"{u} {lang_of[u]}" for u in utts])
    if translations and any(lang_of[u] != "en" for u in utts):
        _write(data / "text.en", [f"{u} english for {u}" for u in utts if lang_of[u] != "en"])
    return data


def find_error(report, file: str, line: Optional[int], key: Optional[str], *words: str) -> DataDirError:
    """The error of ``report`` at file:line about ``key`` whose message holds every word; fails if none."""
    for err in report.errors:
        if (Path(err.file).name if err.file else None) == file and err.line == line and err.key == key:
            if all(w in str(err) for w in words):
                return err
    listing = "\n".join(str(e) for e in report.errors) or "(no errors)"
    pytest.fail(f"no error at {file}:{line} about {key!r} with {words}; errors:\n{listing}")


def lines(path: Path):
    return path.read_text(encoding="utf-8").splitlines()


# ----------------------------------------------------------------------------------------------
# A valid data dir


def test_valid_data_dir_loads(tmp_path):
    data_path = make_data_dir(tmp_path)
    report = validate_data_dir(data_path, check_audio=True)
    assert report.ok, report.summary()
    assert "4 utterances, 2 speakers" in report.summary()
    data = load_data_dir(data_path)
    assert data.utt_ids == ["spk1-a", "spk1-b", "spk2-a", "spk2-b"]
    assert data.langs == ["de", "en"]
    assert data.speakers == ["spk1", "spk2"]
    assert data.translation_langs == ["en"]
    assert data.translations("en") == {"spk2-a": "english for spk2-a", "spk2-b": "english for spk2-b"}
    assert data["utt2lang"]["spk2-a"] == "de"
    assert "text" in data and set(data) >= {"wav.scp", "text", "utt2spk", "spk2utt", "utt2lang", "text.en"}
    assert data.line("text", "spk2-a") == 3
    entry, segment = data.wav_entry("spk1-b")
    assert entry.endswith("spk1-b.wav") and segment is None
    assert len(data.read_audio("spk1-b")) == 12000


def test_missing_data_dir(tmp_path):
    report = validate_data_dir(tmp_path / "nope")
    assert not report.ok and "no such data directory" in str(report.errors[0])
    with pytest.raises(DataDirError):
        load_data_dir(tmp_path / "nope")


# ----------------------------------------------------------------------------------------------
# Bad inputs. Each case breaks a valid dir and names the error expected: (file, line, id, words).


def _replace_line(path: Path, number: int, new: Optional[str]) -> None:
    content = path.read_bytes().split(b"\n")
    if new is None:
        del content[number - 1]
    else:
        content[number - 1] = new.encode("utf-8") if isinstance(new, str) else new
    path.write_bytes(b"\n".join(content))


def _break_missing_wav(root, data):
    (root / "wav" / "spk1-b.wav").unlink()


def _break_unreadable_wav(root, data):
    (root / "wav" / "spk1-b.wav").write_bytes(np.random.default_rng(0).bytes(3000))


def _break_zero_length(root, data):
    soundfile.write(str(root / "wav" / "spk1-b.wav"), np.zeros(0, np.float32), 16000)


def _break_empty_file(root, data):
    (root / "wav" / "spk1-b.wav").write_bytes(b"")


def _break_corrupt_header(root, data):
    path = root / "wav" / "spk1-b.wav"
    path.write_bytes(path.read_bytes()[:30])


def _break_sample_rate(root, data):
    write_wav(root / "wav" / "spk1-b.wav", 8000, sample_rate=8000)


def _edit(file: str, *changes: Tuple[int, Union[str, bytes, None]]) -> Callable[[Path, Path], None]:
    """A breaker that replaces numbered lines of one file of the data dir: ``(line, new)``, where ``new``
    may hold several lines, and None deletes the line."""
    def breaker(root: Path, data: Path) -> None:
        for number, new in changes:
            _replace_line(data / file, number, new)
    return breaker


# Also used by other tests (and tests/test_utils_sh.py).
_break_empty_transcript = _edit("text", (2, "spk1-b"))
_break_missing_from_utt2lang = _edit("utt2lang", (3, None))
_break_unsorted = _edit("text", (1, "spk1-b swapped"), (2, "spk1-a swapped"))
_break_translation_own_lang = _edit("text.en", (1, "spk1-a an english utterance translated into english"),
                                    (2, "spk2-a english for spk2-a\nspk2-b english for spk2-b"))


def _break_missing_file(root, data):
    (data / "utt2lang").unlink()


BAD_INPUTS = {
    # name: (break, check_audio, (file, line, id, *words))
    "missing wav": (_break_missing_wav, True, ("wav.scp", 2, "spk1-b", "not found")),
    "unreadable wav": (_break_unreadable_wav, True, ("wav.scp", 2, "spk1-b", "cannot decode")),
    "zero-length audio": (_break_zero_length, True, ("wav.scp", 2, "spk1-b", "no samples")),
    "empty file": (_break_empty_file, True, ("wav.scp", 2, "spk1-b", "empty (0 bytes)")),
    "corrupt file": (_break_corrupt_header, True, ("wav.scp", 2, "spk1-b", "corrupt")),
    "wrong sample rate": (_break_sample_rate, True, ("wav.scp", 2, "spk1-b", "8000 Hz", "16000 Hz", "reject")),
    "failing pipe": (_edit("wav.scp", (2, "spk1-b false |")), True,
                     ("wav.scp", 2, "spk1-b", "false", "exit status 1")),
    "empty transcript": (_break_empty_transcript, False, ("text", 2, "spk1-b", "empty transcript")),
    "ids differ (missing)": (_break_missing_from_utt2lang, False, ("utt2spk", 3, "spk2-a", "missing from utt2lang")),
    "ids differ (extra)": (_edit("text", (4, "spk2-b words\nspk3-a not in utt2spk")), False,
                           ("text", 5, "spk3-a", "not in utt2spk")),
    "duplicate ids": (_edit("utt2lang", (2, "spk1-b en\nspk1-b en")), False,
                      ("utt2lang", 3, "spk1-b", "duplicate")),
    "unsorted ids": (_break_unsorted, False, ("text", 2, "spk1-a", "not sorted", "spk1-b")),
    "non-UTF-8 text": (_edit("text", (3, "spk2-a caf\xe9".encode("latin-1"))), False,
                       ("text", 3, "spk2-a", "UTF-8", "0xe9")),
    "unknown language": (_edit("utt2lang", (3, "spk2-a klingon")), False,
                         ("utt2lang", 3, "spk2-a", "unknown language code 'klingon'")),
    "alias language": (_edit("utt2lang", (3, "spk2-a zh-CN")), False, ("utt2lang", 3, "spk2-a", "alias", "'zh'")),
    "translation into own language": (_break_translation_own_lang, False,
                                      ("text.en", 1, "spk1-a", "own language")),
    "translation of unknown utterance": (_edit("text.en", (2, "spk2-b english for spk2-b\nspk9-z nobody")), False,
                                         ("text.en", 3, "spk9-z", "not in the data dir")),
    "empty translation": (_edit("text.en", (1, "spk2-a   ")), False,
                          ("text.en", 1, "spk2-a", "empty translation")),
    "spk2utt inconsistent": (_edit("spk2utt", (2, "spk2 spk2-a spk1-b")), False,
                             ("spk2utt", 2, "spk2", "spk1-b", "spk1")),
    "missing file": (_break_missing_file, False, ("utt2lang", None, None, "required file missing")),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_reported_with_file_line_and_id(tmp_path, case):
    breaker, check_audio, expected = BAD_INPUTS[case]
    data_path = make_data_dir(tmp_path)
    breaker(tmp_path, data_path)
    before = {p.name: p.read_bytes() for p in data_path.iterdir()}
    report = validate_data_dir(data_path, check_audio=check_audio)
    assert not report.ok
    err = find_error(report, *expected)
    # the message carries its location and some advice
    if expected[1] is not None:
        assert f"{data_path / expected[0]}:{expected[1]}: " in str(err)
    assert err.fix, f"no advice in: {err}"
    # the command line exits non-zero and prints the error
    assert datadir_cli.main(["validate", "--check_audio", str(check_audio).lower(), str(data_path)]) == 1
    # validation never writes
    assert {p.name: p.read_bytes() for p in data_path.iterdir()} == before
    if not check_audio:
        with pytest.raises(DataDirError):
            load_data_dir(data_path)


def test_errors_are_capped_per_kind(tmp_path):
    data_path = make_data_dir(tmp_path)
    _write(data_path / "utt2lang", [f"{u} xx" for u in lines(data_path / "utt2spk") for u in [u.split()[0]]])
    many = dd.MAX_PROBLEMS_PER_KIND + 5
    _write(data_path / "text.de", [f"utt{i:03d} x" for i in range(many)])
    report = validate_data_dir(data_path)
    translation_errors = [e for e in report.errors if e.file.endswith("text.de")]
    assert len(translation_errors) == dd.MAX_PROBLEMS_PER_KIND + 1
    assert "5 more lines" in str(translation_errors[-1])


def test_resample_policy_warns_and_reads_at_16k(tmp_path):
    data_path = make_data_dir(tmp_path)
    _break_sample_rate(tmp_path, data_path)
    report = validate_data_dir(data_path, check_audio=True, policy="resample")
    assert report.ok, report.summary()
    assert any("resampled" in w and "8000 Hz" in w for w in report.warnings)
    samples = load_data_dir(data_path).read_audio("spk1-b", policy="resample")
    assert len(samples) == 16000  # 1 s at 8 kHz -> 1 s at 16 kHz
    with pytest.raises(AudioError, match="spk1-b.*8000 Hz"):
        load_data_dir(data_path).read_audio("spk1-b", policy="reject")


def test_multichannel_warns_and_keeps_first_channel(tmp_path):
    data_path = make_data_dir(tmp_path)
    written = write_wav(tmp_path / "wav" / "spk1-b.wav", 4000, channels=2)
    report = validate_data_dir(data_path, check_audio=True)
    assert report.ok and any("more than one channel" in w and "spk1-b" in w for w in report.warnings)
    samples = load_data_dir(data_path).read_audio("spk1-b")
    np.testing.assert_allclose(samples, written[:, 0], atol=1e-4)


def test_speaker_prefix_is_only_a_warning(tmp_path):
    data_path = make_data_dir(tmp_path, num_samples={"a-1": 8000, "b-1": 8000}, translations=False)
    _write(data_path / "utt2spk", ["a-1 x", "b-1 y"])
    _write(data_path / "spk2utt", ["x a-1", "y b-1"])
    report = validate_data_dir(data_path)
    assert report.ok and any("do not start with their speaker" in w for w in report.warnings)


# ----------------------------------------------------------------------------------------------
# Segments


def _segmented_dir(root: Path) -> Path:
    data = root / "data" / "seg"
    data.mkdir(parents=True)
    write_wav(root / "wav" / "rec1.wav", 48000)  # 3 s
    _write(data / "wav.scp", [f"rec1 {root / 'wav' / 'rec1.wav'}"])
    _write(data / "segments", ["spk1-rec1-0000-0100 rec1 0.00 1.00", "spk1-rec1-0150-0250 rec1 1.50 2.50"])
    _write(data / "text", ["spk1-rec1-0000-0100 one", "spk1-rec1-0150-0250 two"])
    _write(data / "utt2spk", ["spk1-rec1-0000-0100 spk1", "spk1-rec1-0150-0250 spk1"])
    _write(data / "spk2utt", ["spk1 spk1-rec1-0000-0100 spk1-rec1-0150-0250"])
    _write(data / "utt2lang", ["spk1-rec1-0000-0100 fr", "spk1-rec1-0150-0250 fr"])
    return data


def test_segments_valid_and_read(tmp_path):
    data_path = _segmented_dir(tmp_path)
    assert validate_data_dir(data_path, check_audio=True).ok
    data = load_data_dir(data_path)
    assert data.has_segments
    assert data.wav_entry("spk1-rec1-0150-0250")[1] == (1.5, 2.5)
    whole = read_audio(str(tmp_path / "wav" / "rec1.wav"))
    part = data.read_audio("spk1-rec1-0150-0250")
    np.testing.assert_array_equal(part, whole[24000:40000])


@pytest.mark.parametrize("segment_line, words", [
    ("spk1-rec1-0150-0250 rec9 1.50 2.50", ["recording 'rec9' is not in wav.scp"]),
    ("spk1-rec1-0150-0250 rec1 2.50 1.50", ["invalid times"]),
    ("spk1-rec1-0150-0250 rec1 one two", ["must be numbers"]),
    ("spk1-rec1-0150-0250 rec1 4.00 5.00", ["starts at 4.000 s", "lasts 3.000 s"]),
    ("spk1-rec1-0150-0250 rec1 2.50 3.50", ["ends at 3.500 s", "after the end of recording 'rec1'"]),
])
def test_bad_segments(tmp_path, segment_line, words):
    data_path = _segmented_dir(tmp_path)
    _replace_line(data_path / "segments", 2, segment_line)
    report = validate_data_dir(data_path, check_audio=True)
    find_error(report, "segments", 2, "spk1-rec1-0150-0250", *words)


# ----------------------------------------------------------------------------------------------
# Audio reading


@pytest.mark.parametrize("suffix, kwargs, exact", [
    ("wav", {}, True),
    ("flac", {}, True),
    ("ogg", {"format": "OGG", "subtype": "OPUS"}, False),
    ("mp3", {"format": "MP3"}, False),
])
def test_read_audio_formats(tmp_path, suffix, kwargs, exact):
    path = tmp_path / f"a.{suffix}"
    written = write_wav(path, 16000, **kwargs)
    info = audio_info(str(path))
    assert info.sample_rate == 16000 and info.num_channels == 1
    samples = read_audio(str(path))
    assert samples.dtype == np.float32 and samples.ndim == 1
    if exact:
        assert len(samples) == 16000
        np.testing.assert_allclose(samples, written, atol=1e-4)
    else:  # lossy codecs: a little padding, same energy
        assert abs(len(samples) - 16000) < 2000
        assert abs(np.std(samples) - np.std(written)) < 0.05


def test_read_audio_pipe_and_segment(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, 32000)
    direct = read_audio(str(path), segment=(0.5, 1.0))
    assert len(direct) == 8000
    piped = read_audio(f"cat {path} |", segment=(0.5, 1.0))
    np.testing.assert_array_equal(direct, piped)
    to_end = read_audio(str(path), segment=(1.5, -1))
    assert len(to_end) == 8000
    rounded = read_audio(str(path), segment=(1.5, 2.05))  # within the tolerance: cut at the end
    assert len(rounded) == 8000
    # Clearly past the end: cutting would keep a transcript of audio that is not there.
    with pytest.raises(AudioError, match=r"utterance 'u9'.*ends 7.000 s after the end"):
        read_audio(str(path), segment=(1.5, 9.0), utt_id="u9")


def test_read_audio_errors_name_the_utterance(tmp_path):
    with pytest.raises(AudioError, match="utterance 'u1'.*not found"):
        read_audio(str(tmp_path / "missing.wav"), utt_id="u1")
    with pytest.raises(AudioError, match="utterance 'u2'.*wrote nothing"):
        read_audio("true |", utt_id="u2")
    write_wav(tmp_path / "a.wav", 22050, sample_rate=22050)
    with pytest.raises(AudioError, match="utterance 'u3'.*22050 Hz"):
        read_audio(str(tmp_path / "a.wav"), utt_id="u3")
    samples, info = read_audio_with_info(str(tmp_path / "a.wav"), policy="resample")
    assert info.sample_rate == 22050 and len(samples) == 16000


# ----------------------------------------------------------------------------------------------
# Writing


def _corpus(n: int = 4):
    utts = [f"spk{i % 2}-{i:03d}" for i in range(n)][::-1]  # unsorted on purpose
    return dict(
        wav_scp={u: f"/corpus/{u}.flac" for u in utts},
        text={u: f"  some\twords {u} " for u in utts},
        utt2spk={u: u.split("-")[0] for u in utts},
        utt2lang={u: "ja" for u in utts},
        translations={"en": {utts[0]: "a translation"}},
    )


def test_write_data_dir_writes_sorted_files(tmp_path):
    summary = write_data_dir(tmp_path / "d", **_corpus())
    assert summary.num_utterances == 4 and summary.num_speakers == 2 and summary.translations == {"en": 1}
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "spk2utt", "text", "text.en", "utt2lang", "utt2spk", "wav.scp"]
    assert lines(tmp_path / "d" / "text")[0] == "spk0-000 some words spk0-000"
    assert lines(tmp_path / "d" / "spk2utt") == ["spk0 spk0-000 spk0-002", "spk1 spk1-001 spk1-003"]
    assert [line.split()[0] for line in lines(tmp_path / "d" / "wav.scp")] == [
        "spk0-000", "spk0-002", "spk1-001", "spk1-003"]
    assert validate_data_dir(tmp_path / "d").ok
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no tmp dir left


def test_write_data_dir_replaces_atomically_and_rejects_bad_input(tmp_path):
    write_data_dir(tmp_path / "d", **_corpus(4))
    (tmp_path / "d" / "stale_file").write_text("x\n")
    write_data_dir(tmp_path / "d", **_corpus(2))
    assert len(lines(tmp_path / "d" / "text")) == 2 and not (tmp_path / "d" / "stale_file").exists()
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}
    bad = _corpus(2)
    bad["utt2lang"] = {u: "xx" for u in bad["utt2lang"]}
    with pytest.raises(DataDirError, match=r"d/utt2lang:1: utterance 'spk0-000': unknown language"):
        write_data_dir(tmp_path / "d", **bad)
    spaced = _corpus(2)
    spaced["utt2spk"] = {u: "spk 0" for u in spaced["utt2spk"]}
    with pytest.raises(DataDirError, match=r"bad speaker id 'spk 0'.*U\+0020 SPACE"):
        write_data_dir(tmp_path / "d", **spaced)
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_writer_keeps_transcripts_verbatim_but_one_line(tmp_path):
    """Only what a Kaldi line cannot hold changes: line breaks and tabs, runs of ASCII spaces."""
    corpus = _corpus(3)
    corpus["text"]["spk0-000"] = "Où est la gare\u00a0?"  # no-break space before ? (French typography)
    corpus["text"]["spk1-001"] = "今天\u3000天气"  # ideographic space between Han characters
    corpus["text"]["spk0-002"] = "two\nlines\tand  a\u2028separator "
    write_data_dir(tmp_path / "d", **corpus)
    text = dict(line.split(" ", 1) for line in lines(tmp_path / "d" / "text"))
    assert text == {"spk0-000": "Où est la gare\u00a0?", "spk1-001": "今天\u3000天气",
                    "spk0-002": "two lines and a separator"}
    assert dd.read_kaldi_dict(tmp_path / "d" / "text") == text  # read back as written


def test_writer_sorts_externally_in_byte_order_and_reports_repeats(tmp_path, monkeypatch):
    """More utterances than the sort buffer holds: runs on disk, merged in C-locale (byte) order;
    a repeated id keeps its first utterance and names where the others came from."""
    from part.data import external_sort

    monkeypatch.setattr(external_sort, "SORT_BUFFER_BYTES", 2000)
    rng = np.random.default_rng(0)
    words = ["Zeta", "alpha", "Ärger", "ärger", "b", "B", "日本", "a-b", "a_b", "a.b"]
    words += [f"u{i}" for i in range(200)]
    ids = [f"spk{rng.integers(3)}-{word}" for word in words]
    ids = list(dict.fromkeys(ids))
    order = rng.permutation(len(ids))
    repeats = []
    with dd.DataDirWriter(tmp_path / "d", on_duplicate=lambda *args: repeats.append(args)) as writer:
        assert writer._sorter is None  # nothing is written before the first utterance
        for n, i in enumerate(order):
            utt = ids[i]
            writer.add(dd.Utterance(utt, utt.split("-")[0], "de", f"text of {utt}", f"/w/{utt}.wav"), f"in:{n}")
        writer.add(dd.Utterance(ids[0], ids[0].split("-")[0], "de", "again", "/w/x.wav"), "in:repeat")
        assert len(writer._sorter._runs) > 1  # the buffer overflowed: sorted runs on disk
        assert (tmp_path / "d").exists() is False  # nothing in place before the commit
    keys = [line.split(" ", 1)[0] for line in lines(tmp_path / "d" / "text")]
    assert keys == sorted(ids, key=lambda k: k.encode("utf-8"))
    first = "in:" + str(list(order).index(0))
    assert repeats == [(ids[0], "in:repeat", first)]
    assert dd.read_kaldi_dict(tmp_path / "d" / "text")[ids[0]] == f"text of {ids[0]}"
    assert writer.summary.num_utterances == len(ids) and writer.num_duplicates == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # run files and tmp dir are gone


def test_writer_leaves_the_old_dir_when_killed(tmp_path):
    write_data_dir(tmp_path / "d", **_corpus(2))
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}
    with pytest.raises(KeyboardInterrupt):
        with dd.DataDirWriter(tmp_path / "d") as writer:
            writer.add(dd.Utterance("s-1", "s", "en", "new", "/w/1.wav"))
            raise KeyboardInterrupt
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    with pytest.raises(DataDirError, match=r"'s-1'.*two utterances have this id \(b.tsv:2; the first: a.tsv:1\)"):
        with dd.DataDirWriter(tmp_path / "d") as writer:  # without a handler a repeated id is an error
            writer.add(dd.Utterance("s-1", "s", "en", "one", "/w/1.wav"), "a.tsv:1")
            writer.add(dd.Utterance("s-1", "s", "en", "two", "/w/2.wav"), "b.tsv:2")
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before


def test_write_data_dir_with_segments(tmp_path):
    write_data_dir(
        tmp_path / "d", wav_scp={"rec1": "/r/rec1.wav"}, text={"s-1": "a", "s-2": "b"},
        utt2spk={"s-1": "s", "s-2": "s"}, utt2lang={"s-1": "en", "s-2": "en"},
        segments={"s-1": ("rec1", 0.0, 1.25), "s-2": ("rec1", 1.25, 2.0)})
    assert lines(tmp_path / "d" / "segments") == ["s-1 rec1 0.000 1.250", "s-2 rec1 1.250 2.000"]
    assert lines(tmp_path / "d" / "wav.scp") == ["rec1 /r/rec1.wav"]
    utts = list(dd.iter_utterances(tmp_path / "d"))
    assert [(u.utt_id, u.wav, u.segment) for u in utts] == [
        ("s-1", "/r/rec1.wav", dd.Segment("rec1", 0.0, 1.25)), ("s-2", "/r/rec1.wav", dd.Segment("rec1", 1.25, 2.0))]
    assert load_data_dir(tmp_path / "d").wav_entry("s-2") == ("/r/rec1.wav", (1.25, 2.0))


# ----------------------------------------------------------------------------------------------
# Fixing


def test_fix_data_dir_keeps_common_utterances(tmp_path):
    data_path = make_data_dir(tmp_path)
    _break_missing_from_utt2lang(tmp_path, data_path)  # spk2-a
    _break_empty_transcript(tmp_path, data_path)  # spk1-b
    _break_translation_own_lang(tmp_path, data_path)  # text.en: spk1-a is English
    _write(data_path / "utt2spk", list(reversed(lines(data_path / "utt2spk"))) + ["spk1-a spk1"])
    (data_path / "spk2utt").unlink()
    original = {p.name: p.read_bytes() for p in data_path.iterdir() if p.is_file()}
    result = fix_data_dir(data_path)
    assert result.num_kept == 2 and result.num_before == 4
    assert result.examples == {"empty transcript in text": ["spk1-b"], "not in utt2lang": ["spk2-a"]}
    summary = result.summary()
    assert "kept 2 of 4" in summary and "not in utt2lang" in summary and "empty transcript" in summary
    assert lines(data_path / "spk2utt") == ["spk1 spk1-a", "spk2 spk2-b"]
    assert lines(data_path / "utt2spk") == ["spk1-a spk1", "spk2-b spk2"]
    assert lines(data_path / "text.en") == ["spk2-b english for spk2-b"]
    backup = {p.name: p.read_bytes() for p in (data_path / ".backup").iterdir()}
    assert backup == original
    assert validate_data_dir(data_path, check_audio=True).ok


def test_fix_data_dir_rewrites_aliases_and_drops_segment_orphans(tmp_path):
    data_path = _segmented_dir(tmp_path)
    _replace_line(data_path / "utt2lang", 1, "spk1-rec1-0000-0100 fr_fr")
    _replace_line(data_path / "segments", 2, "spk1-rec1-0150-0250 rec2 1.50 2.50")
    result = fix_data_dir(data_path)
    assert result.examples == {"segment's recording not in wav.scp": ["spk1-rec1-0150-0250"]}
    assert lines(data_path / "utt2lang") == ["spk1-rec1-0000-0100 fr"]
    assert validate_data_dir(data_path).ok


def test_fix_data_dir_needs_the_required_files(tmp_path):
    data_path = make_data_dir(tmp_path)
    (data_path / "text").unlink()
    with pytest.raises(DataDirError, match="text: required file missing"):
        fix_data_dir(data_path)


def test_cli_validate_and_fix(tmp_path, capsys):
    data_path = make_data_dir(tmp_path)
    assert datadir_cli.main(["validate", str(data_path)]) == 0
    assert "is valid" in capsys.readouterr().out
    shutil.copy(data_path / "text", data_path / "text.bak")
    _break_unsorted(tmp_path, data_path)
    assert datadir_cli.main(["validate", str(data_path)]) == 1
    assert "not sorted" in capsys.readouterr().err
    assert datadir_cli.main(["fix", str(data_path)]) == 0
    assert datadir_cli.main(["validate", str(data_path)]) == 0


def test_segment_ending_within_the_tolerance_is_valid(tmp_path):
    data_path = _segmented_dir(tmp_path)
    _replace_line(data_path / "segments", 2, "spk1-rec1-0150-0250 rec1 2.50 3.05")
    assert validate_data_dir(data_path, check_audio=True).ok
    assert len(load_data_dir(data_path).read_audio("spk1-rec1-0150-0250")) == 8000


# ----------------------------------------------------------------------------------------------
# The one `id value` reader


def _problems_of(path: Path, **options):
    found = []
    lines = list(dd.iter_kaldi_file(path, lambda kind, err: found.append((kind, err)), **options))
    return lines, found


@pytest.mark.parametrize("content, kind, line, key, words", [
    (b"\xef\xbb\xbfa-1 x\nb-1 y\n", "byte-order mark", 1, None, ["byte-order mark", "sed -i"]),
    (b"a-1 x\r\nb-1 y\r\n", "CRLF", 1, None, ["carriage return"]),
    (b"a-1 x\n\nb-1 y\n", "empty line", 2, None, ["empty line"]),
    (b"a-1 x\n  b-1 y\n", "leading whitespace", 2, "b-1", ["starts with whitespace"]),
    (b"a-1 x\nb\xc2\xa01 y\n", "bad id", 2, "b\u00a01", ["U+00A0 NO-BREAK SPACE"]),
    (b"a-1 x\nb\x071 y\n", "bad id", 2, "b\x071", ["U+0007"]),
    (b"a-1 x\nb-1\n", "no value after the id", 2, "b-1", ["no value"]),
    (b"b-1 x\na-1 y\n", "unsorted", 2, "a-1", ["not sorted", "'b-1'"]),
    (b"a-1 x\na-1 x\n", "duplicate id", 2, "a-1", ["the same line is at line 1"]),
    (b"a-1 x\na-1 z\n", "duplicate id", 2, "a-1", ["another value", "first at line 1"]),
    (b"a-1 caf\xe9\n", "not UTF-8", 1, "a-1", ["0xe9", "iconv"]),
])
def test_reader_names_every_problem(tmp_path, content, kind, line, key, words):
    path = tmp_path / "utt2x"
    path.write_bytes(content)
    _, found = _problems_of(path)
    matching = [err for k, err in found if k == kind]
    assert matching, found
    err = matching[0]
    assert (err.line, err.key) == (line, key) and str(path) in str(err) and all(w in str(err) for w in words)
    with pytest.raises(DataDirError):  # the default handler stops at the first problem
        list(dd.iter_kaldi_file(path))


def test_reader_yields_each_id_once_with_what_is_wrong(tmp_path):
    path = tmp_path / "text"
    path.write_bytes("a-1  one\ttwo  \na-1 other\nb-1\nc-1 \u3000three\u00a0?\nc-1 \u3000three\u00a0?\n".encode())
    lines, found = _problems_of(path, value_name="transcript")
    assert [(x.key, x.value, x.bad) for x in lines] == [
        ("a-1", "one\ttwo", "conflicting duplicate lines in text"),
        ("b-1", "", "empty transcript in text"),
        ("c-1", "\u3000three\u00a0?", None),  # Kaldi reading: only ASCII spaces and tabs separate
    ]
    assert [kind for kind, _ in found] == ["duplicate id", "empty transcript", "duplicate id"]


def test_read_kaldi_dict_finds_repeats_anywhere(tmp_path):
    path = tmp_path / "hyp"
    path.write_text("b x\na \nb y\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=r"hyp:3: example 'b': duplicate id .*first at line 1"):
        dd.read_kaldi_dict(path, kind="example", allow_empty=True, sorted_ids=False)
    path.write_text("b x\na \n", encoding="utf-8")
    assert dd.read_kaldi_dict(path, allow_empty=True, sorted_ids=False) == {"b": "x", "a": ""}


def test_kaldi_value_and_ids():
    assert dd.kaldi_value(" a\tb\r\nc  d\u2028e\u3000f\u00a0? ") == "a b c d e\u3000f\u00a0?"
    assert dd.id_problem("spk1-utt_2.x") is None and dd.id_problem("日本-1") is None
    assert "U+3000 IDEOGRAPHIC SPACE" in dd.id_problem("a\u3000b")
    assert "U+200B ZERO WIDTH SPACE" in dd.id_problem("a\u200bb")
    assert dd.id_problem("") == "the id is empty"


# ----------------------------------------------------------------------------------------------
# Streaming: validation and fixing of files sorted on disk


def test_unsorted_file_stops_the_checks_across_files(tmp_path):
    data_path = make_data_dir(tmp_path)
    _break_unsorted(tmp_path, data_path)
    _break_missing_from_utt2lang(tmp_path, data_path)
    report = validate_data_dir(data_path)
    assert report.unsorted == ["text"]
    assert not any("missing from" in str(e) for e in report.errors)  # a join over an unsorted file lies
    assert any("checks across files were skipped" in w and "fix_data_dir" in w for w in report.warnings)


def test_spk2utt_is_checked_in_bounded_memory(tmp_path, monkeypatch):
    """spk2utt goes through the external sort (tiny buffer: runs on disk) and still names the exact line."""
    from part.data import external_sort

    monkeypatch.setattr(external_sort, "SORT_BUFFER_BYTES", 200)
    utts = {f"spk{i % 7}-{i:04d}": 4000 for i in range(60)}
    data_path = make_data_dir(tmp_path, num_samples=utts, translations=False)
    assert validate_data_dir(data_path).ok
    spk2utt = lines(data_path / "spk2utt")
    spk2utt[3] = spk2utt[3] + " spk0-0000"
    _write(data_path / "spk2utt", spk2utt)
    find_error(validate_data_dir(data_path), "spk2utt", 4, "spk3", "spk0-0000", "listed twice", "'spk0'")


def test_fix_data_dir_sorts_and_repairs_what_editors_leave(tmp_path, monkeypatch):
    from part.data import external_sort

    monkeypatch.setattr(external_sort, "SORT_BUFFER_BYTES", 200)
    data_path = make_data_dir(tmp_path)
    text = list(reversed(lines(data_path / "text"))) + [lines(data_path / "text")[0]]  # unsorted, a repeat
    (data_path / "text").write_bytes(("\ufeff" + "\r\n".join(text) + "\r\n").encode())  # BOM, CRLF
    assert not validate_data_dir(data_path).ok
    result = fix_data_dir(data_path)
    assert result.num_kept == 4 and "removed 1 repeated identical lines" in result.summary()
    assert validate_data_dir(data_path, check_audio=True).ok
    assert lines(data_path / "text") == sorted(text[:4])
    assert sorted(p.name for p in data_path.iterdir() if p.name.startswith(".")) == [".backup"]


def test_external_sort_merges_in_rounds_in_byte_order(tmp_path, monkeypatch):
    from part.data import external_sort

    monkeypatch.setattr(external_sort, "MAX_RUNS_PER_MERGE", 3)
    rng = np.random.default_rng(1)
    alphabet = ["a", "B", "z", "-", "_", "é", "É", "日", "𝄞", " ", "\t", "\udce9"]  # \udce9: a non-UTF-8 byte
    words = ["".join(rng.choice(alphabet, size=rng.integers(1, 6))) for _ in range(500)]
    with external_sort.ExternalSorter(tmp_path, buffer_bytes=1000) as sorter:
        for word in words:
            sorter.add(word)
        result = list(sorter)
        assert len(list((tmp_path).glob(".sort-*/run*"))) <= 3  # merged in rounds of at most 3 files
    expected = sorted(words, key=lambda w: w.encode("utf-8", errors="surrogateescape"))
    assert result == expected
    assert not list(tmp_path.iterdir())  # the run files are gone
    with pytest.raises(ValueError, match="line break"):
        external_sort.ExternalSorter().add("a\nb")
