"""Data preparation of Common Voice, FLEURS, WenetSpeech, CoVoST 2 and the generic layout, run on tiny
corpora in their release layouts (tests/fixtures_corpora.py), and the recipes' local/data.sh."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixtures_corpora import (  # noqa: E402
    CV_HEADER_V17,
    make_all,
    make_commonvoice,
    make_covost2,
    make_fleurs,
    make_generic,
    make_wenetspeech,
)

from part.data.audio import read_audio  # noqa: E402
from part.data.corpora import commonvoice, covost2, fleurs, generic, recipes, wenetspeech  # noqa: E402
from part.data.corpora.base import (  # noqa: E402
    CorpusError,
    CorpusLayoutError,
    Skips,
    combine_data_dirs,
    read_tsv_with_header,
)
from part.data.corpora.wavscp import WavScpBuilder  # noqa: E402
from part.data.datadir import load_data_dir, validate_data_dir  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def read_kaldi(path: Path) -> list:
    """The ``(id, value)`` lines of a data dir file, in file order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split(" ", 1)) for line in lines]


def check_dir(path: Path) -> dict:
    """Assert the contract (valid, every file sorted in byte order with unique ids); return {name: dict}."""
    report = validate_data_dir(path)
    assert report.ok, report.summary()
    files = {}
    for file in sorted(path.iterdir()):
        rows = read_kaldi(file)
        keys = [k for k, _ in rows]
        assert keys == sorted(keys, key=lambda k: k.encode("utf-8")), f"{file} is not sorted"
        assert len(keys) == len(set(keys)), f"{file} has duplicate ids"
        files[file.name] = dict(rows)
    return files


def audio_of(data_dir: Path, utt: str) -> np.ndarray:
    """The samples of one utterance through its wav.scp entry, at 16 kHz (another rate is an error)."""
    return load_data_dir(data_dir).read_audio(utt, sample_rate=SR, policy="reject")


# ----------------------------------------------------------------------------------------------
# Readers and helpers


def test_tsv_reader_keeps_quotes_and_repairs_tabs(tmp_path):
    tsv = tmp_path / "x.tsv"
    tsv.write_text('client_id\tpath\tsentence\tlocale\n'
                   'a\tc1.mp3\tHe said "hi" and \'bye\'\tde\n'
                   'b\tc2.mp3\tOne\ttab\tde\n'
                   'c\tc3.mp3\n', encoding="utf-8")
    skips = Skips()
    rows = list(read_tsv_with_header(tsv, ("client_id", "path", "sentence"), free_text_column="sentence",
                                     skips=skips))
    assert [r["sentence"] for _, r in rows] == ['He said "hi" and \'bye\'', "One tab"]
    assert [r["locale"] for _, r in rows] == ["de", "de"]
    assert skips.count("malformed row") == 1 and f"{tsv}:4" in skips.describe("malformed row")


def test_tsv_reader_names_missing_columns(tmp_path):
    tsv = tmp_path / "x.tsv"
    tsv.write_text("client_id\tfile\n", encoding="utf-8")
    with pytest.raises(CorpusLayoutError, match=r"no column 'path'.*header: client_id file"):
        list(read_tsv_with_header(tsv, ("client_id", "path")))


def test_wav_scp_entries(tmp_path):
    import soundfile

    from fixtures_corpora import tone

    ok = tmp_path / "ok.wav"
    soundfile.write(str(ok), tone(0.2, SR), SR)
    high = tmp_path / "high rate.wav"
    soundfile.write(str(high), tone(0.2, 44100), 44100)
    auto = WavScpBuilder("auto")
    assert auto.entry(ok) == str(ok)
    entry = auto.entry(high)
    assert entry.startswith("sox ") and entry.endswith("|") and "'" in entry  # quoted path with a space
    samples = read_audio(entry, sample_rate=SR)
    assert abs(len(samples) - 0.2 * SR) < 10
    assert WavScpBuilder("path").entry(high) == str(high)
    assert WavScpBuilder("pipe").entry(ok).endswith("|")


# ----------------------------------------------------------------------------------------------
# Common Voice


@pytest.fixture(scope="module")
def cv_fixture(tmp_path_factory):
    return make_commonvoice(tmp_path_factory.mktemp("cv"), ("de", "zh-CN"), long_sentence=True)


def test_commonvoice(cv_fixture, tmp_path):
    result = commonvoice.prepare(cv_fixture.root, ["de", "zh-CN"], tmp_path)
    for split in ("train", "dev", "test"):
        files = check_dir(tmp_path / f"commonvoice_{split}")
        expected = {commonvoice.utterance_id(c.client_id, c.clip): c for c in cv_fixture.expected[split]}
        assert files["text"] == {utt: c.text for utt, c in expected.items()}
        assert files["utt2lang"] == {utt: {"de": "de", "zh-CN": "zh"}[c.locale] for utt, c in expected.items()}
        for utt, c in expected.items():
            assert files["utt2spk"][utt] == c.client_id[:16]
            assert re.fullmatch(r"[0-9a-f]{16}-common_voice_(de|zh-CN)_\d+", utt)
        for locale in ("de", "zh-CN"):
            per_lang = check_dir(tmp_path / f"commonvoice_{split}_{locale}")
            assert set(per_lang["text"]) == {u for u, c in expected.items() if c.locale == locale}
    text = check_dir(tmp_path / "commonvoice_train")["text"]
    assert 'Er sagte: "Hallo" und ging.' in text.values()
    assert "Sie nannte es \"'s Gärtle\". Es kostet 1\u202f000\u00a0€." in text.values()  # Unicode spaces kept
    assert "Ein Tabulator steht hier." in text.values()  # the tab inside the sentence
    assert "他说“你好”。" in text.values() and "今天\u3000天气很好。" in text.values()
    assert max(len(t) for t in text.values()) > 100_000  # a sentence of a pasted paragraph
    # Missing clips and empty sentences are reported with file and line, not written.
    missing = result.skips.describe("missing clip")
    for locale in ("de", "zh-CN"):
        for clip in cv_fixture.missing[locale]:
            assert clip in missing and f"{cv_fixture.root / locale / 'train.tsv'}:7" in missing
            assert not any(clip[:-4] in u for u in text)
    assert result.skips.count("empty sentence") == 2
    # Rows of index files as they really are: each skipped, counted and named by file and line.
    for reason, lines in (("repeated id", cv_fixture.repeated), ("clip in two splits", cv_fixture.two_splits),
                          ("bad id", cv_fixture.bad_name)):
        assert result.skips.count(reason) == 2, (reason, result.skips.describe(reason))
        assert all(line in result.skips.describe(reason) for line in lines.values())
    test_ids = set(check_dir(tmp_path / "commonvoice_test")["text"])
    assert not test_ids & set(text)  # the test clip listed in train.tsv too is only in test
    # The audio: 48 kHz mp3 clips come out of their wav.scp pipes at 16 kHz.
    utt = sorted(text)[0]
    entry = load_data_dir(tmp_path / "commonvoice_train")["wav.scp"][utt]
    assert entry.endswith("|") and ".mp3" in entry
    samples = audio_of(tmp_path / "commonvoice_train", utt)
    assert abs(len(samples) / SR - 0.4) < 0.1 and np.abs(samples).max() > 0.05


def test_commonvoice_strict_stops_on_missing_clip(cv_fixture, tmp_path):
    with pytest.raises(CorpusError) as err:
        commonvoice.prepare(cv_fixture.root, ["de"], tmp_path, splits=["train"], strict=True)
    message = str(err.value)
    assert cv_fixture.missing["de"][0] in message and "train.tsv:7" in message and "--strict" in message


def test_commonvoice_validated_train_and_release_17_header(tmp_path):
    cv = make_commonvoice(tmp_path / "cv17", ("de",), header=CV_HEADER_V17)
    commonvoice.prepare(cv.root, ["de"], tmp_path / "out", train_tsv="validated")
    train = check_dir(tmp_path / "out" / "commonvoice_train_de")["text"]
    ids = lambda clips: {commonvoice.utterance_id(c.client_id, c.clip) for c in clips}  # noqa: E731
    assert ids(cv.expected["train"]) | ids(cv.validated_only) == set(train)
    assert not ids(cv.eval_related) & set(train)  # a dev speaker's other clip stays out of train
    dev = check_dir(tmp_path / "out" / "commonvoice_dev_de")["text"]
    assert set(dev) == ids(cv.expected["dev"])


def test_commonvoice_wrong_root(cv_fixture, tmp_path):
    with pytest.raises(CorpusLayoutError, match=r"found it below .*use that folder as the root"):
        commonvoice.prepare(cv_fixture.root.parent, ["de"], tmp_path)
    with pytest.raises(CorpusLayoutError, match=r"no .*fr/train.tsv"):
        commonvoice.prepare(cv_fixture.root, ["de", "fr"], tmp_path)


# ----------------------------------------------------------------------------------------------
# FLEURS


def test_fleurs(tmp_path):
    fl = make_fleurs(tmp_path / "fleurs", ("de_de", "cmn_hans_cn", "en_us"))
    result = fleurs.prepare(fl.root, ["de_de", "cmn_hans_cn", "en_us"], tmp_path / "out", translate_to=["en"])
    english = {r.sentence_id: r.raw for r in fl.expected["train"] + fl.expected["dev"] + fl.expected["test"]
               if r.code == "en_us"}
    for split in ("train", "dev", "test"):
        files = check_dir(tmp_path / "out" / f"fleurs_{split}")
        expected = {fleurs.utterance_id(r.code, r.sentence_id, r.file_name): r for r in fl.expected[split]}
        assert files["text"] == {u: r.raw for u, r in expected.items()}
        assert files["utt2spk"] == {u: u for u in expected}
        assert files["text.en"] == {u: english[r.sentence_id] for u, r in expected.items() if r.code != "en_us"}
    train = check_dir(tmp_path / "out" / "fleurs_train_de_de")
    # Sentence 1 is read by two speakers: two utterances with the same transcript.
    ones = [u for u in train["text"] if u.startswith("fleurs_de_de_1_")]
    assert len(ones) == 2 and len({train["text"][u] for u in ones}) == 1
    assert train["text"]["fleurs_de_de_2_10000200"] == "Er sagte „Halt“ und ging."
    assert result.skips.count("missing audio") == 3
    assert fl.missing[0].file_name in result.skips.describe("missing audio")
    assert result.skips.count("malformed row") == 3 and fl.malformed[0] in result.skips.describe("malformed row")
    for reason, lines in (("bad id", fl.bad_name), ("empty transcript", fl.empty)):  # CRLF lines count as one
        assert result.skips.count(reason) == 3 and all(line in result.skips.describe(reason) for line in lines)
    assert "巴黎\u3000在法国。" in check_dir(tmp_path / "out" / "fleurs_train")["text"].values()
    utt = ones[0]
    assert train["wav.scp"][utt].endswith(".wav")  # 16 kHz wav: the path itself
    assert len(audio_of(tmp_path / "out" / "fleurs_train_de_de", utt)) == int(0.4 * SR)


def test_fleurs_normalized_transcripts_and_archives(tmp_path):
    fl = make_fleurs(tmp_path / "fleurs", ("de_de",))
    fleurs.prepare(fl.root, ["de_de"], tmp_path / "out", splits=["test"], transcript="normalized")
    text = check_dir(tmp_path / "out" / "fleurs_test_de_de")["text"]
    assert list(text.values()) == ["biegen sie an der brücke links ab"]
    packed = make_fleurs(tmp_path / "packed", ("de_de",), audio_layout="archive")
    with pytest.raises(CorpusLayoutError, match=r"not extracted: run `tar -xzf .*train.tar.gz -C"):
        fleurs.prepare(packed.root, ["de_de"], tmp_path / "out2")


# ----------------------------------------------------------------------------------------------
# WenetSpeech


@pytest.mark.parametrize("braces", [False, True])
def test_wenetspeech(tmp_path, braces):
    ws = make_wenetspeech(tmp_path / "ws", braces=braces, bom=braces)
    result = wenetspeech.prepare(ws.root, ["L", "M", "S", "DEV", "TEST_NET", "TEST_MEETING"], tmp_path / "out")
    for label, name in wenetspeech.SUBSETS.items():
        if label == "W":
            continue
        files = check_dir(tmp_path / "out" / f"wenetspeech_{name}")
        expected = {s.sid: s for s in ws.subset(label)}
        assert files["text"] == {sid: s.text for sid, s in expected.items()}
        assert files["segments"] == {sid: f"{s.aid} {s.begin:.3f} {s.end:.3f}" for sid, s in expected.items()}
        assert files["utt2spk"] == {sid: s.aid for sid, s in expected.items()}
        assert set(files["utt2lang"].values()) == {"zh"}
        assert set(files["wav.scp"]) == {s.aid for s in expected.values()}
        assert all(v.endswith(f"{k}.opus") for k, v in files["wav.scp"].items())
    assert result.skips.describe("missing audio").startswith(ws.missing_audio[0])
    assert all(sid in result.skips.describe("bad segment") for sid in ws.bad_times)
    seg = ws.subset("M")[1]
    samples = audio_of(tmp_path / "out" / "wenetspeech_train_m", seg.sid)
    assert len(samples) == round((seg.end - seg.begin) * SR)


def test_wenetspeech_index_as_it_really_is(tmp_path, monkeypatch):
    """Rows of WenetSpeech.json that are broken are skipped with the JSON path of the entry, counted, and
    never fatal: a repeated sid (the first kept), segments past the end of their audio (also where the
    entry gives no duration and the header does), an id with a space, empty segments; Unicode spaces in
    the text are kept. The JSON is parsed incrementally: json.load (the whole file at once) is never called."""
    import json

    def no_json_load(*args, **kwargs):
        raise AssertionError("WenetSpeech.json must be parsed incrementally, not with json.load")

    monkeypatch.setattr(json, "load", no_json_load)
    ws = make_wenetspeech(tmp_path / "ws")
    result = wenetspeech.prepare(ws.root, ["L", "M", "DEV", "TEST_NET", "TEST_MEETING"], tmp_path / "out")
    assert set(result.combined) == {"train_l", "train_m", "dev", "test_net", "test_meeting"}
    train_l = check_dir(tmp_path / "out" / "wenetspeech_train_l")
    first = ws.segments[0]
    assert train_l["text"][first.sid] == first.text  # the repeat with other text is not what was kept
    assert "今天\u3000下雨" in train_l["text"].values()
    assert any(s.end > 3.0 for s in ws.subset("L")) and all(s.sid in train_l["text"] for s in ws.subset("L"))
    for reason, paths in (("repeated id", ws.repeated), ("segment past the end", ws.past_end),
                          ("bad id", ws.bad_ids)):
        described = result.skips.describe(reason)
        assert all(f"WenetSpeech.json {path}" in described for path in paths), (reason, described)
    assert result.skips.count("repeated id") == 2  # once in train_l, once in train_m
    assert result.skips.count("segment past the end") == 2 and result.skips.count("bad segment") == 2
    assert "after the end of its recording" in result.skips.describe("segment past the end")
    with pytest.raises(CorpusError, match=r"segment past the end.*--strict"):
        wenetspeech.prepare(ws.root, ["L"], tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict" / "wenetspeech_train_l").exists()


def test_wenetspeech_broken_json_names_the_file(tmp_path):
    ws = make_wenetspeech(tmp_path / "ws")
    manifest = ws.root / "WenetSpeech.json"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text[: text.index('"Y0000000002_dev"') + 40], encoding="utf-8")  # a cut download
    with pytest.raises(CorpusError, match=r"WenetSpeech.json: not valid JSON after audios\[1\].*download complete"):
        wenetspeech.prepare(ws.root, ["L"], tmp_path / "out")
    manifest.write_text('{"dataset": "WenetSpeech"}', encoding="utf-8")
    with pytest.raises(CorpusError, match="no 'audios' list"):
        wenetspeech.prepare(ws.root, ["L"], tmp_path / "out")


# ----------------------------------------------------------------------------------------------
# CoVoST 2


@pytest.mark.parametrize("layout", ["combined", "split", "no_sentence"])
def test_covost2(cv_fixture, tmp_path, layout):
    cs = make_covost2(tmp_path / f"covost_{layout}", cv_fixture, ("de_en", "zh-CN_en"), layout=layout)
    result = covost2.prepare(cs.covost_dir, cv_fixture.root, ["de_en", "zh-CN_en"], tmp_path / "out")
    for split in ("train", "dev", "test"):
        files = check_dir(tmp_path / "out" / f"covost2_{split}")
        expected = {commonvoice.utterance_id(r.clip.client_id, r.clip.clip): r for r in cs.expected[split]}
        assert files["text"] == {u: r.clip.text for u, r in expected.items()}
        assert files["text.en"] == {u: r.translation for u, r in expected.items()}
        assert files["utt2lang"] == {u: {"de": "de", "zh-CN": "zh"}[r.clip.locale] for u, r in expected.items()}
    translations = check_dir(tmp_path / "out" / "covost2_train_de_en")["text.en"].values()
    assert 'He said "hello" and left.' in translations and "A tab and a back\\slash." in translations
    assert len(cs.expected["train"]) == 12  # train_covost rows are training data too
    every = [value for split in ("train", "dev", "test")
             for _, value in read_kaldi(tmp_path / "out" / f"covost2_{split}" / "text.en")]
    assert "Two lines." in every  # an escaped line break inside a translation
    reason = "no transcript" if layout == "no_sentence" else "missing clip"
    assert all(clip in result.skips.describe(reason) for clip in cs.missing)
    repeated = result.skips.describe("repeated id")  # names the utterance and the TSV lines of both rows
    assert result.skips.count("repeated id") == 2 and all(Path(c).stem in repeated for c in cs.repeated)
    assert all(clip in result.skips.describe("clip in two splits") for clip in cs.two_splits)
    assert all(clip in result.skips.describe("unknown split value") for clip in cs.unknown_split)


def test_covost2_errors(cv_fixture, tmp_path):
    with pytest.raises(CorpusLayoutError, match=r"no .*covost_v2.fr_en.tsv") as err:
        covost2.prepare(tmp_path, cv_fixture.root, ["fr_en"], tmp_path / "out")
    assert err.value.root == "covost_dir"
    cs = make_covost2(tmp_path / "cs", cv_fixture, ("de_en",))
    with pytest.raises(CorpusLayoutError) as err:
        covost2.prepare(cs.covost_dir, tmp_path / "nowhere", ["de_en"], tmp_path / "out")
    assert err.value.root == "cv_root"


# ----------------------------------------------------------------------------------------------
# Generic layout and combining


def test_generic(tmp_path):
    gen = make_generic(tmp_path / "corpus")
    out = generic.prepare(gen.tsv, tmp_path / "data" / "train")
    files = check_dir(out)
    assert files["text"] == {u: e[2] for u, e in gen.expected.items()}
    assert files["text"]["zoe-006"] == "Où est la gare\u00a0?"  # a no-break space is kept
    assert files["utt2spk"] == {u: e[0] for u, e in gen.expected.items()}
    assert files["utt2lang"] == {u: e[1] for u, e in gen.expected.items()}
    for tgt in ("en", "de"):
        assert files[f"text.{tgt}"] == {u: e[3][tgt] for u, e in gen.expected.items() if tgt in e[3]}
    assert files["wav.scp"]["li-002"].endswith(".flac")
    assert files["wav.scp"]["bob-003"].endswith("|")  # 48 kHz mp3: converted by a pipe
    assert abs(len(audio_of(out, "bob-003")) / SR - 0.4) < 0.1
    with pytest.raises(CorpusError, match="carl-004"):
        generic.prepare(gen.tsv, tmp_path / "data" / "strict", strict=True)


def test_generic_skips_bad_rows_by_file_and_line(tmp_path, caplog):
    gen = make_generic(tmp_path / "corpus")
    with caplog.at_level("WARNING"):
        generic.prepare(gen.tsv, tmp_path / "train")
    for where, reason in gen.skipped.items():
        assert re.search(f"{reason}: .*{re.escape(where)}", caplog.text), (where, reason)
    assert "U+00A0 NO-BREAK SPACE" in caplog.text  # what is wrong with the id, made visible


def test_combine_merges_translations_and_excludes(cv_fixture, tmp_path):
    commonvoice.prepare(cv_fixture.root, ["de"], tmp_path / "cv")
    cs = make_covost2(tmp_path / "cs", cv_fixture, ("de_en",))
    covost2.prepare(cs.covost_dir, cv_fixture.root, ["de_en"], tmp_path / "cs_out")
    report = combine_data_dirs([tmp_path / "cv" / "commonvoice_train", tmp_path / "cs_out" / "covost2_train"],
                               tmp_path / "train", exclude=[tmp_path / "cv" / "commonvoice_dev"])
    files = check_dir(tmp_path / "train")
    cv_train = set(check_dir(tmp_path / "cv" / "commonvoice_train")["text"])
    assert set(files["text"]) == cv_train  # CoVoST's copy of a CV dev clip is excluded
    assert set(files["text.en"]) == cv_train and report.merged == 5 and report.excluded == 1


# ----------------------------------------------------------------------------------------------
# Recipes: local/data.sh


def run_data_sh(recipe: str, args, env_extra, cwd=None):
    env = dict(os.environ, **env_extra)
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    return subprocess.run(["bash", str(REPO / "egs" / recipe / "local" / "data.sh"), *args],
                          cwd=cwd or REPO / "egs" / recipe, env=env, capture_output=True, text=True)


def test_data_sh_names_the_variable_to_set(cv_fixture, tmp_path):
    unset = run_data_sh("commonvoice", ["--data_dir", str(tmp_path / "d")], {"COMMONVOICE": ""})
    assert unset.returncode != 0 and "COMMONVOICE is not set" in unset.stderr
    wrong = run_data_sh("commonvoice", ["--langs", "de", "--data_dir", str(tmp_path / "d")],
                        {"COMMONVOICE": str(tmp_path)})
    assert wrong.returncode != 0 and f"Check COMMONVOICE='{tmp_path}'" in wrong.stderr
    assert "de/train.tsv" in wrong.stderr
    helped = run_data_sh("commonvoice", ["--help"], {})
    assert helped.returncode == 0 and "--langs" in helped.stdout
    bad = run_data_sh("commonvoice", ["--no_such_option", "1"], {"COMMONVOICE": str(cv_fixture.root)})
    assert bad.returncode != 0


def test_data_sh_commonvoice(cv_fixture, tmp_path):
    data = tmp_path / "data"
    proc = run_data_sh("commonvoice", ["--langs", "de,zh-CN", "--data_dir", str(data)],
                       {"COMMONVOICE": str(cv_fixture.root)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_commonvoice"
    assert "local/data.sh --langs de,zh-CN" in proc.stderr  # prints its command line
    for name in ("train", "dev", "test_commonvoice"):
        check_dir(data / name)
    assert len(check_dir(data / "train")["text"]) == 10


def test_data_sh_wenetspeech(tmp_path):
    ws = make_wenetspeech(tmp_path / "ws")
    data = tmp_path / "data"
    proc = run_data_sh("wenetspeech", ["--train_subset", "L", "--data_dir", str(data)],
                       {"WENETSPEECH": str(ws.root)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_wenetspeech_net test_wenetspeech_meeting"
    assert set(check_dir(data / "train")["segments"]) == {s.sid for s in ws.subset("L")}


def test_data_sh_fleurs_and_covost2(cv_fixture, tmp_path):
    fl = make_fleurs(tmp_path / "fleurs", ("de_de", "en_us"))
    proc = run_data_sh("fleurs", ["--langs", "de_de", "--translate_to", "en", "--data_dir", str(tmp_path / "d1")],
                       {"FLEURS": str(fl.root)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_fleurs"
    assert check_dir(tmp_path / "d1" / "test_fleurs")["text.en"] == {
        "fleurs_de_de_5_10000500": "Turn left at the bridge."}
    cs = make_covost2(tmp_path / "cs", cv_fixture, ("de_en",))
    env = {"COVOST2": str(cs.covost_dir), "COMMONVOICE": str(cv_fixture.root), "COVOST2_CV_ROOT": ""}
    proc = run_data_sh("covost2", ["--pairs", "de_en", "--data_dir", str(tmp_path / "d2")], env)
    assert proc.returncode == 0, proc.stderr  # COVOST2_CV_ROOT defaults to COMMONVOICE
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_covost2"
    assert len(check_dir(tmp_path / "d2" / "train")["text.en"]) == 6


def test_data_sh_multilingual(tmp_path):
    corpora = make_all(tmp_path / "corpora")
    data = tmp_path / "data"
    env = {"COMMONVOICE": str(corpora.commonvoice.root), "FLEURS": str(corpora.fleurs.root),
           "COVOST2": str(corpora.covost2.covost_dir), "COVOST2_CV_ROOT": ""}
    proc = run_data_sh("multilingual", ["--cv_langs", "de,zh-CN,en", "--fleurs_langs", "de_de,cmn_hans_cn",
                                        "--covost_pairs", "de_en,zh-CN_en", "--data_dir", str(data)], env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "test_sets: test_commonvoice test_fleurs test_covost2"
    train, dev = check_dir(data / "train"), check_dir(data / "dev")
    tests = {name: check_dir(data / name) for name in ("test_commonvoice", "test_fleurs", "test_covost2")}
    evaluation = set(dev["text"]).union(*(set(t["text"]) for t in tests.values()))
    assert not set(train["text"]) & evaluation  # no evaluation clip is trained on
    assert set(train["utt2lang"].values()) == {"de", "zh", "en"}
    # Common Voice clips that CoVoST 2 translates carry their transcript and the translation.
    cv_train = {commonvoice.utterance_id(c.client_id, c.clip): c.text for c in corpora.commonvoice.expected["train"]}
    assert all(train["text"][u] == t for u, t in cv_train.items())
    assert set(train["text.en"]) == {u for u in cv_train if not u.split("-", 1)[1].startswith("common_voice_en")}
    assert set(tests["test_covost2"]["text.en"]) == set(tests["test_covost2"]["text"])
    assert any(u.startswith("fleurs_cmn_hans_cn_") for u in train["text"])


def test_recipes_cli_reports_layout_errors(tmp_path, capsys):
    ws_root = tmp_path / "empty"
    ws_root.mkdir()
    code = recipes.main(["wenetspeech", "--wenetspeech", str(ws_root), "--data_dir", str(tmp_path / "d")])
    assert code == 1
    assert capsys.readouterr().out == ""  # no "test_sets:" line when nothing was made
