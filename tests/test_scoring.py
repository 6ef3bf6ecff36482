"""Scoring (stage 8): the Python aligner against the real SCTK sclite, normalisers, CER tokenisation,
BLEU against the sacrebleu command line, part_score on a decode dir and make_results on an exp tree.

The sclite comparisons run the installed binary (skipped only when it is absent) on one set of trn
files holding hand-written and random cases, and require equal per-utterance counts and a
byte-identical report.
"""
from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest

from part.bin import make_results, part_score
from part.scoring import sclite as sc
from part.scoring.align import ErrorCounts, align
from part.scoring.bleu import bleu_tokenizer, corpus_bleu_chrf
from part.scoring.normalize import get_normalizer
from part.scoring.provenance import git_revision
from part.scoring.results import comparison_table, describe_decode_dir, find_runs
from part.scoring.scorer import ScoringError, load_decode_dir, score_decode_dir
from part.scoring.tokenize import scoring_tokens, split_characters

SCLITE = sc.find_sclite()
needs_sclite = pytest.mark.skipif(SCLITE is None, reason="SCTK's sclite is not installed")
SACREBLEU = Path(sys.executable).parent / "sacrebleu"


# ------------------------------------------------------------------------------------------------
# the aligner
# ------------------------------------------------------------------------------------------------
def ops(ref: str, hyp: str) -> str:
    return "".join(op for op, _, _ in align(ref.split(), hyp.split()))


def test_alignment_follows_sclite_tie_breaking():
    # "a b c d" / "a x d": deletion + substitution or substitution + deletion cost the same (7);
    # sclite prefers the diagonal move when tracing back from the end, which puts the deletion first.
    assert ops("a b c d", "a x d") == "CDSC"
    assert ops("a a", "a") == "DC"
    assert ops("", "x y") == "II"
    assert ops("x y", "") == "DD"
    assert ops("", "") == ""
    # 3 substitutions (cost 12) rather than 2 deletions + 2 insertions (also 12): diagonal first
    assert ops("a b c", "x y z") == "SSS"
    assert align(["the", "cat"], ["the", "hat"]) == [("C", "the", "the"), ("S", "cat", "hat")]


def test_error_counts_and_kaldi_line():
    c = ErrorCounts.from_alignment(align("a b c d".split(), "a x d e".split()))
    assert c.as_dict() == {"Snt": 1, "Wrd": 4, "Corr": 2, "Sub": 1, "Del": 1, "Ins": 1, "Err": 3, "S.Err": 1}
    total = c + ErrorCounts.from_scores(3, 0, 0, 0)
    assert total.kaldi_line() == "%WER 42.86 [ 3 / 7, 1 ins, 1 del, 1 sub ]"
    assert total.kaldi_line("CER").startswith("%CER 42.86 ")
    assert ErrorCounts.from_scores(0, 0, 0, 2).error_rate() is None  # errors but no reference words
    assert ErrorCounts.from_dict(total.as_dict()) == total


def _varied_cases(rng: random.Random):
    """(utterance id, reference tokens, hypothesis tokens): hand-written cases, then random ones."""
    zh = lambda s: scoring_tokens(s, "zh")  # noqa: E731
    raw = lambda s: scoring_tokens(s, "en")  # noqa: E731  (no normaliser: punctuation stays)
    cases = [
        ("ins-1", "the cat sat", "the big cat sat down"),
        ("del-1", "the cat sat on the mat", "cat on mat"),
        ("sub-1", "one two three", "one too tree"),
        ("mix-1", "the cat sat on the mat", "the cat sit on mat mat extra"),
        ("tie-1", "a b c d", "a x d"),
        ("tie-2", "a a a b", "a b b"),
        ("emptyhyp-1", "nothing was recognised", ""),
        ("emptyref-1", "", "spurious words"),
        ("empty-1", "", ""),
        ("case-1", "Hello WORLD Über ПРИВЕТ", "hello world über привет"),
    ]
    out = [(i, r.split(), h.split()) for i, r, h in cases]
    out += [("cjk-1", zh("我们去学校 GPT4 模型"), zh("我们去了学校 gpt4 模型")),
            ("cjk-2", zh("2024年是好年"), zh("2023年 是 好")),
            ("punct-1", raw("Hello, world! (really) a;b @ {x} c* \\d"), raw("Hello world! really a;b @ x c* d")),
            ("long-1", [f"w{rng.randrange(20)}" for _ in range(250)], [f"w{rng.randrange(20)}" for _ in range(240)])]
    vocab = ["a", "b", "c", "A", "the", "我", "們", "é", "É", "Ελλάδα", "ελλάδα", "42"]
    for n in range(300):
        spk = rng.choice(["s1", "s2", "spk3", "Spk4", "x_y5", "zero6"])

        def words():
            return [rng.choice(vocab[:rng.randint(2, len(vocab))]) for _ in range(rng.randint(0, 12))]
        ref = [] if spk == "zero6" else words()  # a speaker without reference words
        hyp = words()
        if rng.random() < 0.3:
            hyp = list(ref)
            if hyp and rng.random() < 0.7:
                hyp[rng.randrange(len(hyp))] = rng.choice(vocab)
        out.append((f"{spk}-r{n:03d}", ref, hyp))
    return out


@needs_sclite
def test_aligner_equals_sclite(tmp_path):
    rng = random.Random(1234)
    cases = _varied_cases(rng)
    ref = [(sc.trn_id(u), r) for u, r, _ in cases]
    hyp = [(sc.trn_id(u), h) for u, _, h in cases]
    rng.shuffle(hyp)  # sclite orders speakers and utterances by the hypothesis file
    sc.write_trn(tmp_path / "ref.trn", ref)
    sc.write_trn(tmp_path / "hyp.trn", hyp)
    theirs = sc.run_sclite(tmp_path, SCLITE)
    utterances = sc.align_trn(sc.read_trn(tmp_path / "ref.trn"), sc.read_trn(tmp_path / "hyp.trn"))
    mine = {u.id: u.counts for u in utterances}
    their_counts = sc.parse_sclite_scores(theirs)
    assert len(their_counts) == len(cases)
    assert {k: v.as_dict() for k, v in mine.items()} == {k: v.as_dict() for k, v in their_counts.items()}
    assert sc.format_report(utterances) == theirs


@needs_sclite
def test_report_equals_sclite_with_wide_columns_and_speakers_without_words(tmp_path):
    ref = [("z1-1", []), ("z2-1", []), ("averyveryveryverylongspeakernamethatwidensthebox-1", ["x", "y"]),
           ("z3-1", []), ("b-1", ["x"]), ("c-1", ["a"])]
    hyp = [("z1-1", ["q"]), ("z2-1", ["q", "r", "s"]), ("averyveryveryverylongspeakernamethatwidensthebox-1", ["x"]),
           ("z3-1", ["q"]), ("b-1", ["y"]), ("c-1", ["a"] + ["b"] * 12)]  # 1200 % insertions
    sc.write_trn(tmp_path / "ref.trn", ref)
    sc.write_trn(tmp_path / "hyp.trn", hyp)
    assert sc.format_report(sc.align_trn(ref, hyp)) == sc.run_sclite(tmp_path, SCLITE)


def test_trn_ids_and_tokens():
    assert sc.trn_id("spk1-utt1__asr") == "spk1-utt1__asr"
    assert sc.trn_id("utt7") == "utt7-utt7"
    assert sc.speaker_of("spk1-utt1__asr") == "spk1"
    with pytest.raises(ValueError, match="a b"):
        sc.trn_id("a b")
    assert sc.trn_token("a;b@{c}*\\") == "a\uff1bb\uff20\uff5bc\uff5d\uff0a\uff3c"


# ------------------------------------------------------------------------------------------------
# normalisation and tokenisation
# ------------------------------------------------------------------------------------------------
def test_english_normalizer():
    norm = get_normalizer("whisper", "en")
    assert "EnglishTextNormalizer" in norm.description and norm.name == "whisper"
    assert norm("Mr. Smith painted the colour grey.") == "mister smith painted the color gray"
    assert norm("twenty five people") == "25 people"
    assert norm("It's OK [noise] (laughs)") == "it is ok"
    # the basic normaliser leaves English spellings and numbers alone
    assert get_normalizer("basic", "en")("Colour, twenty five!").split() == ["colour", "twenty", "five"]


def test_basic_normalizer_other_languages_and_cjk():
    fr = get_normalizer("whisper", "fr")
    assert "BasicTextNormalizer" in fr.description
    assert fr("Bonjour, l'élève ! Ça va ?").split() == ["bonjour", "l", "élève", "ça", "va"]
    assert get_normalizer("whisper", "de")("Straße ÜBER").split() == ["straße", "über"]
    zh = get_normalizer("whisper", "zh")
    assert zh("你好，世界。GPT4！").split() == ["你好", "世界", "gpt4"]
    assert scoring_tokens(zh("你好，世界。GPT4！"), "zh") == ["你", "好", "世", "界", "gpt4"]
    none = get_normalizer("none", "en")
    assert none("Keep, THIS!") == "Keep, THIS!" and none.name == "none"
    with pytest.raises(ValueError, match="unknown normalizer"):
        get_normalizer("fancy", "en")


def test_cer_tokenisation():
    assert split_characters("我们用 GPT4 模型") == ["我", "们", "用", "GPT4", "模", "型"]
    assert split_characters("2024年はAIの年です") == ["2024", "年", "は", "AI", "の", "年", "で", "す"]
    assert split_characters("안녕 하세요") == ["안", "녕", "하", "세", "요"]
    assert split_characters("สวัสดี") == list("สวัสดี")  # Thai: code points, marks included
    assert scoring_tokens("hello big world", "en") == ["hello", "big", "world"]
    assert scoring_tokens("我 们", "yue") == ["我", "们"]


# ------------------------------------------------------------------------------------------------
# BLEU
# ------------------------------------------------------------------------------------------------
BLEU_CASES = {
    "de": (["Hallo Welt, das ist ein Test.", "Die Katze sitzt auf der Matte.", "Guten Morgen!"],
           ["Hallo Welt, dies ist ein Test.", "Eine Katze saß auf der Matte.", ""]),
    "zh": (["你好，世界。", "我们明天去北京开会。"],
           ["你好世界。", "我们明天去上海开会。"]),
    "ja": (["今日はいい天気ですね。", "駅はどこですか。"],
           ["今日は良い天気です。", "駅はどこ？"]),
}


@pytest.mark.skipif(not SACREBLEU.exists(), reason="sacrebleu command line not installed")
@pytest.mark.parametrize("tgt", sorted(BLEU_CASES))
def test_bleu_equals_sacrebleu_cli(tmp_path, tgt):
    refs, hyps = BLEU_CASES[tgt]
    (tmp_path / "ref").write_text("".join(r + "\n" for r in refs), encoding="utf-8")
    (tmp_path / "hyp").write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    ours = corpus_bleu_chrf(hyps, refs, tgt)
    assert ours["tokenize"] == {"de": "13a", "zh": "zh", "ja": bleu_tokenizer("ja")}[tgt]
    cli = subprocess.run([str(SACREBLEU), str(tmp_path / "ref"), "-i", str(tmp_path / "hyp"), "-m", "bleu", "chrf",
                          "-tok", ours["tokenize"], "-w", "4"], capture_output=True, text=True, check=True)
    bleu, chrf = json.loads(cli.stdout)
    assert round(ours["bleu"], 4) == bleu["score"] and bleu["signature"] == ours["signature"]
    assert round(ours["chrf"], 4) == chrf["score"] and chrf["signature"] == ours["chrf_signature"]


def test_bleu_tokenizers():
    assert bleu_tokenizer("en") == "13a" and bleu_tokenizer("zh") == "zh"
    assert bleu_tokenizer("yue") == "char" and bleu_tokenizer("th") == "char"
    assert bleu_tokenizer("ko") in ("ko-mecab", "char")


# ------------------------------------------------------------------------------------------------
# part_score on decode dirs
# ------------------------------------------------------------------------------------------------
def write_decode_dir(path: Path, task: str, rows, hyps) -> Path:
    """rows: (id, src, tgt, ref); hyps: id -> hypothesis (ids left out have no hypothesis)."""
    path.mkdir(parents=True)
    (path / "task").write_text(task + "\n")
    files = {"ref": [], "utt2lang": [], "utt2tgt": []}
    for eid, src, tgt, ref in rows:
        files["ref"].append(f"{eid} {ref}")
        files["utt2lang"].append(f"{eid} {src}")
        files["utt2tgt"].append(f"{eid} {tgt}")
    files["hyp"] = [f"{eid} {h}" for eid, h in hyps.items()]
    for name, lines in files.items():
        (path / name).write_text("".join(line + "\n" for line in sorted(lines)), encoding="utf-8")
    return path


ASR_ROWS = [
    ("spk1-a__asr", "en", "en", "Hello World, this is Mr. Smith."),
    ("spk1-b__asr", "en", "en", "twenty five dollars"),
    ("spk2-a__asr", "zh", "zh", "我们去学校 GPT4 模型"),
    ("spk3-a__asr", "fr", "fr", "Bonjour le monde"),
    ("spk3-b__asr", "fr", "fr", "Au revoir"),
]
ASR_HYPS = {"spk1-a__asr": "hello world this is mister smith", "spk2-a__asr": "我们去了学校 gpt4 模型",
            "spk3-a__asr": "bonjour monde", "spk3-b__asr": "au revoir"}  # spk1-b__asr: no hypothesis


@pytest.mark.parametrize("use_sclite", ["no", pytest.param("yes", marks=needs_sclite)])
def test_part_score_asr(tmp_path, caplog, use_sclite):
    d = write_decode_dir(tmp_path / "decode_test_asr", "asr", ASR_ROWS, ASR_HYPS)
    with caplog.at_level(logging.WARNING):
        assert part_score.main(["--decode_dir", str(d), "--use_sclite", use_sclite]) == 0
    assert "spk1-b__asr" in caplog.text and "without a hypothesis" in caplog.text
    records = {r["src"]: r for r in json.loads((d / "scores.json").read_text())}
    assert sorted(records) == ["en", "fr", "zh"]
    en, fr, zh = records["en"], records["fr"], records["zh"]
    assert en["metric"] == "WER" and zh["metric"] == "CER" and fr["metric"] == "WER"
    # en: 6 + 1 reference words ("twenty five dollars" -> "$25" with the English normaliser), 1 deleted
    assert en["counts"] == {"Snt": 2, "Wrd": 7, "Corr": 6, "Sub": 0, "Del": 1, "Ins": 0, "Err": 1, "S.Err": 1}
    assert en["value"] == 14.2857 and en["missing_hyp"] == 1
    assert en["scorer"] == ("sclite" if use_sclite == "yes" else "python")
    assert zh["counts"]["Wrd"] == 8 and zh["counts"]["Ins"] == 1 and zh["value"] == 12.5
    assert fr["counts"]["Del"] == 1 and fr["normalizer"] == "whisper"
    for sub, lang in (("score_wer", "en"), ("score_cer", "zh"), ("score_wer", "fr")):
        for name in ("ref.trn", "hyp.trn", "result.txt", "wer"):
            assert (d / sub / lang / name).is_file()
    assert (d / "score_wer/en/wer").read_text().splitlines()[0] == "%WER 14.29 [ 1 / 7, 0 ins, 1 del, 0 sub ]"
    assert (d / "score_cer/zh/hyp.trn").read_text() == "我 们 去 了 学 校 gpt4 模 型 (spk2-a__asr)\n"
    result = (d / "score_wer/en/result.txt").read_text()
    assert "SYSTEM SUMMARY PERCENTAGES by SPEAKER" in result and "| Sum/Avg|" in result
    assert "REF:  $25 \nHYP:  *** \nEval: D   \n" in result


@needs_sclite
def test_python_report_equals_sclite_report(tmp_path):
    a = write_decode_dir(tmp_path / "a", "asr", ASR_ROWS, ASR_HYPS)
    b = write_decode_dir(tmp_path / "b", "asr", ASR_ROWS, ASR_HYPS)
    score_decode_dir(a, use_sclite="yes")
    score_decode_dir(b, use_sclite="no")
    for sub in ("score_wer/en", "score_wer/fr", "score_cer/zh"):
        for name in ("ref.trn", "hyp.trn", "result.txt", "wer"):
            assert (a / sub / name).read_bytes() == (b / sub / name).read_bytes(), f"{sub}/{name}"


def test_part_score_translation(tmp_path):
    de_refs, zh_refs = BLEU_CASES["de"][0], BLEU_CASES["zh"][0]
    rows = [("spk1-a__s2tt_de", "en", "de", de_refs[0]), ("spk1-b__s2tt_de", "en", "de", de_refs[1]),
            ("spk1-c__s2tt_de", "en", "de", de_refs[2]), ("spk2-a__s2tt_zh", "en", "zh", zh_refs[0]),
            ("spk2-b__s2tt_zh", "en", "zh", zh_refs[1])]
    hyps = {"spk1-a__s2tt_de": BLEU_CASES["de"][1][0], "spk1-b__s2tt_de": BLEU_CASES["de"][1][1],
            "spk2-a__s2tt_zh": BLEU_CASES["zh"][1][0], "spk2-b__s2tt_zh": BLEU_CASES["zh"][1][1]}
    d = write_decode_dir(tmp_path / "decode_test_s2tt", "s2tt", rows, hyps)
    records = score_decode_dir(d)
    assert [(r["src"], r["tgt"], r["metric"]) for r in records] == [("en", "de", "BLEU"), ("en", "zh", "BLEU")]
    de = corpus_bleu_chrf(BLEU_CASES["de"][1], BLEU_CASES["de"][0], "de")  # spk1-c has no hypothesis: ""
    assert records[0]["bleu"] == round(de["bleu"], 4) and records[0]["chrf"] == round(de["chrf"], 4)
    assert records[0]["signature"] == de["signature"] and records[0]["missing_hyp"] == 1
    assert records[1]["tokenize"] == "zh" and "tok:zh" in records[1]["signature"]
    assert (d / "score_bleu/en-de/hyp").read_text().splitlines() == BLEU_CASES["de"][1]
    assert (d / "score_bleu/en-de/ids").read_text().split() == ["spk1-a__s2tt_de", "spk1-b__s2tt_de", "spk1-c__s2tt_de"]
    assert (d / "score_bleu/en-zh/bleu").read_text().startswith("BLEU = ")


def test_cli_help(capsys):
    for main in (part_score.main, make_results.main):
        with pytest.raises(SystemExit) as e:
            main(["--help"])
        assert e.value.code == 0
    assert "--use_sclite" in capsys.readouterr().out


def test_sclite_required_but_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("SCLITE", str(tmp_path / "no-such-sclite"))
    d = write_decode_dir(tmp_path / "d", "asr", ASR_ROWS, ASR_HYPS)
    with pytest.raises(ScoringError, match="sclite was not found"):
        score_decode_dir(d, use_sclite="yes")
    assert {r["scorer"] for r in score_decode_dir(d, use_sclite="auto")} == {"python"}


def test_part_score_errors(tmp_path, caplog):
    d = write_decode_dir(tmp_path / "orphan", "asr", ASR_ROWS[:2], {"spk1-a__asr": "x", "spk9-z__asr": "y"})
    with caplog.at_level(logging.ERROR):
        assert part_score.main(["--decode_dir", str(d)]) == 1
    assert "spk9-z__asr" in caplog.text and "no reference" in caplog.text
    d = write_decode_dir(tmp_path / "dup", "asr", ASR_ROWS[:2], {})
    with open(d / "ref", "a") as f:
        f.write("spk1-a__asr again\n")
    with pytest.raises(ScoringError, match=r"ref:3: example 'spk1-a__asr': duplicate id .*first at line 1"):
        load_decode_dir(d)
    d = write_decode_dir(tmp_path / "lang", "asr", [("spk1-a__asr", "xx", "xx", "hello")], {})
    with pytest.raises(ScoringError, match="spk1-a__asr.*unknown language code 'xx'"):
        load_decode_dir(d)


# ------------------------------------------------------------------------------------------------
# make_results
# ------------------------------------------------------------------------------------------------
def _fake_asr_records(wer_en: float, wer_zh: float):
    def rec(lang, metric, value):
        return {"task": "asr", "src": lang, "tgt": lang, "metric": metric, "value": value,
                "counts": {"Snt": 10, "Wrd": 100, "Corr": 100 - int(value), "Sub": int(value), "Del": 0, "Ins": 0,
                           "Err": int(value), "S.Err": 5},
                "normalizer": "whisper", "normalizer_detail": "test", "scorer": "python", "missing_hyp": 0}
    return [rec("en", "WER", wer_en), rec("zh", "CER", wer_zh)]


def _fake_bleu_records(bleu: float):
    return [{"task": "s2tt", "src": "en", "tgt": "de", "metric": "BLEU", "value": bleu, "bleu": bleu, "chrf": 50.0,
             "signature": "nrefs:1|tok:13a", "chrf_signature": "nrefs:1|nc:6", "tokenize": "13a",
             "counts": {"Snt": 10}, "normalizer": "none", "scorer": "sacrebleu", "missing_hyp": 0}]


@pytest.fixture
def fake_exp(tmp_path):
    exp = tmp_path / "exp"
    values = {("part", "seed1"): (10.0, 20.0, 30.0), ("part", "seed2"): (12.0, 22.0, 32.0),
              ("baseline", "seed1"): (14.0, 30.0, 20.0), ("baseline", "seed2"): (18.0, 30.0, 24.0)}
    for (method, seed), (en, zh, bleu) in values.items():
        for task, records in (("asr", _fake_asr_records(en, zh)), ("s2tt", _fake_bleu_records(bleu))):
            d = exp / seed / method / "phase3" / f"decode_test_clean_{task}"
            d.mkdir(parents=True)
            (d / "scores.json").write_text(json.dumps(records))
    return exp


def test_make_results(fake_exp, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert make_results.main(["--exp_dir", "exp", "--out", "RESULTS.md", "--title", "Fake results"]) == 0
    printed = capsys.readouterr().out
    report = (tmp_path / "RESULTS.md").read_text()
    assert report.startswith("# Fake results\n")
    assert "python -m part.bin.make_results --exp_dir exp --out RESULTS.md --title 'Fake results'" in report
    # comparison: rows = languages, columns = method/phase, mean ± sample std over the two seeds
    assert "| Language | baseline/phase3 | part/phase3 |" in report
    assert "| en (WER) | 16.00 ± 2.83 | 11.00 ± 1.41 |" in report
    assert "| zh (CER) | 30.00 ± 0.00 | 21.00 ± 1.41 |" in report
    assert "| **Average (error rate)** | 23.00 ± 1.41 | 16.00 ± 1.41 |" in report  # mean over languages first
    assert "| en-de (BLEU) | 22.00 ± 2.83 | 31.00 ± 1.41 |" in report
    assert "### test_clean / ASR: part/phase3, seed2" in report
    assert "| en | WER | 10 | 100 | 88.0 | 12.0 | 0.0 | 0.0 | 12.0 | 50.0 | 12.00 |" in report
    assert "- torch: " in report and "- transformers: " in report and "- git revision: " in report
    assert "en (WER)" in printed and "16.00 ± 2.83" in printed and "|" not in printed
    assert printed.endswith(comparison_table(fake_exp, style="text"))
    # Scores without per-utterance counts (an older part_score): the headline says why it has no interval.
    assert "No interval for asr:" in report and "per_utt" in report


def test_failed_hypothesis_check_is_marked_in_the_report(fake_exp, tmp_path, monkeypatch):
    """A decode dir whose hypotheses stage 7 flagged (hyp_check.json) is marked "!" wherever its scores
    appear, and the report says why in a Warnings section."""
    from part.checks import hypothesis_check

    d = fake_exp / "seed2" / "baseline" / "phase3" / "decode_test_clean_asr"
    (d / "hyp").write_text("".join(f"utt{i} the same sentence\n" for i in range(10)))
    (d / "ref").write_text("".join(f"utt{i} sentence number {i}\n" for i in range(10)))
    assert hypothesis_check(d).warnings
    monkeypatch.chdir(tmp_path)
    assert make_results.main(["--exp_dir", "exp", "--out", "RESULTS.md"]) == 0
    report = (tmp_path / "RESULTS.md").read_text()
    warnings = report.split("## Warnings", 1)[1].split("\n## ", 1)[0]
    assert "baseline/phase3, seed2" in warnings and "100% of the hypotheses are the same sentence" in warnings
    assert "part/phase3" not in warnings
    assert "| en (WER) | 16.00 ± 2.83 ! | 11.00 ± 1.41 |" in report  # only the flagged system's cells
    assert "| en-de (BLEU) | 22.00 ± 2.83 | 31.00 ± 1.41 |" in report  # its S2TT decode passed the check
    assert "### test_clean / ASR: baseline/phase3, seed2 !" in report
    assert "### test_clean / ASR: baseline/phase3, seed1\n" in report
    assert "! a decode dir of this system failed" in comparison_table(fake_exp, style="text")


def test_run_description(tmp_path):
    exp = tmp_path / "exp"
    assert describe_decode_dir(exp, exp / "part/phase2/decode_test_clean_asr") == \
        {"method": "part", "phase": "phase2", "seed": "", "set": "test_clean", "task": "asr"}
    assert describe_decode_dir(exp, exp / "seed3/baseline/phase2/decode_dev_s2tt")["seed"] == "seed3"
    got = describe_decode_dir(exp, exp / "part_seed2/phase3/decode_test_mt")
    assert (got["method"], got["seed"], got["task"]) == ("part", "seed2", "mt")
    d = exp / "x" / "decode_weird"
    d.mkdir(parents=True)
    (d / "decode_info.json").write_text(json.dumps({"set": "fleurs_test", "task": "asr", "options": {}}))
    assert describe_decode_dir(exp, d) == {"method": "x", "phase": "", "seed": "", "set": "fleurs_test", "task": "asr"}
    assert find_runs(exp) == []
    (d / "scores.json").write_text(json.dumps({"not": "records"}))  # foreign scores.json: skipped
    assert find_runs(exp) == []
    (d / "scores.json").write_text(json.dumps(_fake_asr_records(5.0, 6.0)))
    assert [(r.method, r.set, r.task, len(r.records)) for r in find_runs(exp)] == [("x", "fleurs_test", "asr", 2)]


def test_git_revision_without_git_command(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git/refs/heads").mkdir(parents=True)
    (repo / ".git/HEAD").write_text("ref: refs/heads/main\n")
    (repo / ".git/refs/heads/main").write_text("0123abcd\n")
    (repo / "sub").mkdir()
    assert git_revision(repo / "sub") == "0123abcd (main)"
    (repo / ".git/refs/heads/main").unlink()
    (repo / ".git/packed-refs").write_text("# pack-refs\nfeedbeef refs/heads/main\n")
    assert git_revision(repo) == "feedbeef (main)"


def test_unicode_spaces_in_references_score_as_spaces():
    """Transcripts keep the no-break space of French typography and U+3000 between Han characters;
    every normaliser turns them into plain spaces, so a hypothesis with a plain space is correct."""
    from part.scoring.normalize import NORMALIZERS, get_normalizer
    from part.scoring.tokenize import scoring_tokens

    for name in NORMALIZERS:
        zh = get_normalizer(name, "zh")
        assert scoring_tokens(zh("今天\u3000天气"), "zh") == scoring_tokens(zh("今天 天气"), "zh") == ["今", "天", "天", "气"]
        fr = get_normalizer(name, "fr")
        assert fr("Où est la gare\u00a0?").split() == fr("Où est la gare ?").split()
        assert fr("a\u200bb\u202fc") == fr("a b c")


# ------------------------------------------------------------------------------------------------
# failures, significance, the phase-by-phase report
# ------------------------------------------------------------------------------------------------
def test_failure_labels():
    from part.scoring.failures import CharNgramLID, failure_counts, max_repeats
    from part.scoring.scorer import Example

    assert max_repeats("a b c a b c a b c d".split(), 4) == 3 and max_repeats("a b a".split(), 4) == 1
    lid = CharNgramLID().fit([("de", "der hund läuft nach hause und die katze schläft"),
                              ("en", "the dog runs home and the cat is sleeping"),
                              ("fr", "le chien court à la maison et le chat dort")])
    assert lid.predict("the cat runs home") == "en" and lid.predict("le chat dort") == "fr"
    examples = [Example("a", "de", "de", "Der Hund läuft nach Hause.", "der hund läuft nach hause"),  # fine
                Example("b", "de", "de", "Die Katze schläft.", ""),  # empty
                Example("c", "de", "de", "Die Katze schläft.", "die katze die katze die katze die katze"),  # loop
                Example("d", "de", "de", "Der Hund läuft.", "the dog runs home and the cat"),  # English
                Example("e", "de", "de", "Der Hund läuft.", "犬が走る"),  # another script
                Example("f", "de", "de", "[noise]", ""),  # no speech, no output: right
                Example("g", "de", "de", "[noise]", "der hund")]  # no speech, output
    counts, labels = failure_counts(examples, "de", lid=lid)
    assert counts == {"speech": 5, "empty": 1, "loop": 1, "wrong_language": 2, "wrong_script": 1, "no_speech": 2,
                      "output_on_no_speech": 1, "language_id": True}
    assert labels == {"b": ["empty"], "c": ["loop"], "d": ["wrong_language:en"],
                      "e": ["wrong_language:script=CJK"], "g": ["output_on_no_speech"]}
    # Without a language identifier only the script is judged; a repetition the reference has is no loop.
    counts, labels = failure_counts(examples[3:5] + [Example("h", "de", "de", "ja ja ja", "ja ja ja")], "de")
    assert counts["wrong_language"] == 1 and not counts["language_id"] and "h" not in labels


def test_paired_bootstrap():
    import numpy as np
    from sacrebleu.metrics import BLEU

    from part.scoring import significance as sig

    rng = np.random.default_rng(0)
    words = rng.integers(5, 12, size=200)
    base = np.stack([rng.binomial(words, 0.2), words], axis=1)
    better = np.stack([np.maximum(base[:, 0] - rng.integers(0, 2, size=200), 0), words], axis=1)
    a = {"en": {f"u{i}": better[i] for i in range(200)}, "de": {f"u{i}": better[i] for i in range(200)}}
    b = {"en": {f"u{i}": base[i] for i in range(200)}, "de": {f"u{i}": base[i] for i in range(200)}}
    diff = sig.compare(a, b, "error")["all"]
    assert diff.a < diff.b and diff.low <= diff.diff <= diff.high < 0 and diff.significant
    same = sig.compare(b, b, "error")["all"]
    assert same.diff == same.low == same.high == 0.0 and not same.significant
    # Groups of the same size share their resamples (sacrebleu's seed); pooling seeds sums per example.
    assert np.array_equal(sig.resample_indices(200), sig.resample_indices(200))
    pooled = sig.pooled([b, b], ["seed1", "seed2"])
    assert np.array_equal(pooled["en"]["u3"], 2 * base[3])
    with pytest.raises(ValueError, match="example 'u0' is in only one"):
        sig.pooled([b, {"en": {}, "de": {}}], ["seed1", "seed2"])
    # BLEU from sacrebleu's statistics equals sacrebleu's corpus BLEU.
    refs = [f"the cat number {i} sat on the mat" for i in range(50)]
    hyps = [r if i % 3 else r.replace("cat", "dog") for i, r in enumerate(refs)]
    stats = np.asarray(BLEU()._extract_corpus_statistics(hyps, [refs]))
    point = sig.bleu_scores(stats, sig.resample_indices(50)).point
    assert point == pytest.approx(BLEU().corpus_score(hyps, [refs]).score)


SENTENCES = {"en": ["the red house is on the hill", "my sister reads a long book", "we walk to the old market",
                    "the train leaves at nine", "a small dog sleeps in the sun", "they cook fish for dinner"],
             "de": ["das rote haus steht auf dem hügel", "meine schwester liest ein langes buch",
                    "wir gehen zum alten markt", "der zug fährt um neun", "ein kleiner hund schläft in der sonne",
                    "sie kochen fisch zum abendessen"]}


def _garble(text: str, n: int) -> str:
    words = text.split()
    return " ".join("x" if i < n else w for i, w in enumerate(words))


def make_phase_exp(root: Path, seeds=(1, 2)) -> Path:
    """A scored experiment dir as ./run_all.sh leaves it: both methods, every phase decoded on a speech test
    set and on clips without speech, with update counts, configs and the record of the run."""
    from part.scoring.failures import CharNgramLID

    lid = CharNgramLID().fit([(lang, s) for lang, rows in SENTENCES.items() for s in rows])
    exp = root / "exp"
    exp.mkdir(parents=True)
    (root / "conf").mkdir()
    errors = {("baseline", "phase1"): 3, ("baseline", "phase2"): 2, ("part", "phase1"): 3, ("part", "phase2"): 1,
              ("part", "phase3"): 0}
    for seed in seeds:
        for (method, phase), n in errors.items():
            phase_dir = exp / f"{method}_ctc_posterior_seed{seed}" / phase
            phase_dir.mkdir(parents=True)
            config = root / "conf" / f"{method}_{phase}.yaml"
            config.write_text(f"speech_adapter: ctc_posterior\nmax_epoch: 2\n# {method}\n")
            (phase_dir / "config.yaml").write_text("model_type: speech_llm\nspeech_adapter: ctc_posterior\n")
            (phase_dir / "stage_options.json").write_text(json.dumps(
                {"args": ["--config", f"conf/{config.name}", "--seed", str(seed), "--init_param", "/abs/x.pth"],
                 "configs": {f"conf/{config.name}": config.read_text()}}))
            (phase_dir / "grad_updates.json").write_text(json.dumps(
                {"accum_grad": 1, "epochs": {"1": {"batches": 100, "with_gradient": 100},
                                             "2": {"batches": 100, "with_gradient": 100}}}))
            asr_rows, asr_hyps, s2tt_rows, s2tt_hyps, noise_rows, noise_hyps = [], {}, [], {}, [], {}
            for lang, rows in SENTENCES.items():
                other = "de" if lang == "en" else "en"
                for i, ref in enumerate(rows):
                    utt = f"{lang}-spk-{i:03d}"
                    asr_rows.append((f"{utt}__asr", lang, lang, ref))
                    # seed-dependent extra error; a German hypothesis in English for the baseline
                    hyp = _garble(ref, n + (i + seed) % 2)
                    if method == "baseline" and lang == "de" and i == 0:
                        hyp = SENTENCES["en"][0]
                    asr_hyps[f"{utt}__asr"] = hyp
                    s2tt_rows.append((f"{utt}__s2tt_{other}", lang, other, SENTENCES[other][i]))
                    s2tt_hyps[f"{utt}__s2tt_{other}"] = _garble(SENTENCES[other][i], n)
                for i in range(2):
                    noise_rows.append((f"{lang}-noise-{i:03d}__asr", lang, lang, "[noise]"))
                    noise_hyps[f"{lang}-noise-{i:03d}__asr"] = "the" if (method == "part" and i == 0) else ""
            for name, task, rows, hyps in (("test", "asr", asr_rows, asr_hyps), ("test", "s2tt", s2tt_rows, s2tt_hyps),
                                           ("test_noise", "asr", noise_rows, noise_hyps)):
                d = write_decode_dir(phase_dir / f"decode_{name}_{task}", task, rows, hyps)
                score_decode_dir(d, use_sclite="no", lid=lid)
    (exp / "runs.tsv").write_text("2026-12-01T10:00:00\t0123456789abcdef\t0\t./run_all.sh --seeds '1 2'\n")
    return exp


def test_phase_by_phase_report(tmp_path, capsys, monkeypatch):
    exp = make_phase_exp(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert make_results.main(["--exp_dir", "exp", "--out", "RESULTS.md"]) == 0
    printed = capsys.readouterr().out
    report = (tmp_path / "RESULTS.md").read_text()
    # Provenance: the run's revision, clean; the configuration hash; the config files unchanged.
    assert "| 2026-12-01T10:00:00 | `0123456789ab` | clean | `./run_all.sh --seeds '1 2'` |" in report
    assert "Configuration hash **`" in report and "Each still holds what was used." in report
    assert "Caution" not in report
    # The headline: PART (phase3) against Baseline-2stage (phase2), the paired interval favours PART.
    assert "## PART vs Baseline-2stage, adapter `ctc_posterior`" in report
    assert "### PART (phase3) vs Baseline-2stage (phase2) on test" in report
    row = next(line for line in report.splitlines() if line.startswith("| ASR, average error (%) |"))
    low, high = (float(v) for v in row.split("[")[1].split("]")[0].split(","))
    assert low <= high < 0 and "**" in row
    assert "| S2TT, average BLEU (xx→en) |" in report and "| S2TT, average BLEU (en→xx) |" in report
    assert "PART phase3 − PART phase2 on `test`" in report
    # Updates with gradient, per phase and cumulated (2 seeds, the same counts).
    assert "| PART | phase3 | 2 | 200 | 200 | 600 |" in report
    assert "| Baseline-2stage | phase2 | 2 | 200 | 200 | 400 |" in report
    # Every phase, with its plot.
    assert "### Phase by phase (test)" in report and "| PART | phase1 | 200 |" in report
    assert (tmp_path / "figures" / "phases_ctc_posterior_test.png").stat().st_size > 1000
    assert "![Phase by phase (test)](figures/phases_ctc_posterior_test.png)" in report
    # Failures: the baseline's English hypothesis for German speech, found by the language identifier.
    assert "| de | Baseline-2stage (phase2) |" in report
    de_row = next(line for line in report.splitlines() if line.startswith("| de | Baseline-2stage (phase2) |"))
    assert de_row.split("|")[4].strip() == "16.7 (2)"  # 1 of 6 utterances, in both seeds
    # Clips without speech: PART writes on one of each language's two clips.
    assert "### Clips without speech (test_noise): clips with output" in report
    assert "| **all** | 0/8 | 0/8 | 4/8 | 4/8 | 4/8 |" in report
    # The noise set has no error rate: it is left out of the per-language comparison.
    assert "test_noise / ASR (WER" not in report
    # The terminal gets the same tables as text.
    assert "=== PART vs Baseline-2stage, adapter ctc_posterior ===" in printed
    assert "Updates that carry gradient" in printed and "ASR, average error (%)" in printed
    # A config file edited since the runs: said.
    (tmp_path / "conf" / "part_phase3.yaml").write_text("speech_adapter: ctc_posterior\nmax_epoch: 3\n")
    with open(exp / "runs.tsv", "a") as f:
        f.write("2026-12-02T10:00:00\tfedcba9876543210\t3\t./run_all.sh\n")
    assert make_results.main(["--exp_dir", "exp", "--out", "RESULTS.md"]) == 0
    report = (tmp_path / "RESULTS.md").read_text()
    assert "**Changed since**: `conf/part_phase3.yaml` (changed)" in report
    assert "**dirty** (3 changed files)" in report and "Caution" in report


def test_configuration_hash_ignores_paths_and_follows_content(tmp_path):
    from part.scoring.provenance import config_fingerprint

    def stage(root: Path, init: str, lr: str) -> Path:
        (root / "conf").mkdir(parents=True, exist_ok=True)
        (root / "conf" / "p.yaml").write_text(f"optim_conf:\n  lr: {lr}\n")
        phase = root / "exp" / "part_seed1" / "phase1"
        phase.mkdir(parents=True, exist_ok=True)
        (phase / "stage_options.json").write_text(json.dumps(
            {"args": ["--config", "conf/p.yaml", "--init_param", init, "--seed", "1"],
             "configs": {"conf/p.yaml": (root / "conf" / "p.yaml").read_text()}}))
        return root / "exp"

    a, checks = config_fingerprint(stage(tmp_path / "a", "/home/a/exp/x.pth", "0.001"))
    b, _ = config_fingerprint(stage(tmp_path / "b", "/tmp/copy/exp/x.pth", "0.001"))
    c, _ = config_fingerprint(stage(tmp_path / "c", "/home/a/exp/x.pth", "0.002"))
    assert a == b != c and [(k.path, k.used_by, k.now) for k in checks] == [("conf/p.yaml", 1, "same")]
    assert config_fingerprint(tmp_path / "nothing") == (None, [])
