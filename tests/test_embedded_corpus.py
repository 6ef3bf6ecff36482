"""The embedded default corpus (part.data.embedded, stage 1 of egs/mini_multilingual), at tiny size."""
from __future__ import annotations

import collections
import hashlib
import json
import logging
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from part.data.embedded import concepts as C
from part.data.embedded.corpus import SIZES, CorpusError, SizeSpec, _take, build_corpus, parse_langs
from part.data.embedded.frames import FRAMES
from part.data.embedded.lang import REALISERS, SUPPORTED_LANGS
from part.data.embedded.lang import de, en, es, fr, ja, zh
from part.data.embedded.lang.ja import counted
from part.data.embedded.prepare import MARKER, prepare
from part.data.embedded.synth import plan_utterance, speakable

REPO = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "test")
SEED = 1
TINY = SIZES["tiny"]
HAS_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed")


def read_kaldi(path: Path) -> dict:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        out[key] = value
    return out


def read_keys(path: Path) -> list:
    return [line.split(" ", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny corpus made once for this module: (root, summary)."""
    if not HAS_ESPEAK:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("embedded_tiny")
    summary = prepare(root, "tiny", SUPPORTED_LANGS, seed=SEED, nj=2, progress=False)
    return root, summary


# ---- text -----------------------------------------------------------------------------------------
def test_every_language_covers_every_concept_and_frame():
    tables = {
        "nouns": (set(C.NOUNS) | set(C.REFERENCE_ONLY), [en.NOUNS, de.NOUNS, fr.NOUNS, es.NOUNS, zh.NOUNS, ja.NOUNS]),
        "adjectives": (set(C.ADJECTIVES), [en.ADJECTIVES, de.ADJECTIVES, fr.ADJECTIVES, es.ADJECTIVES,
                                           zh.ADJECTIVES, ja.ADJECTIVES]),
        "places": (set(C.PLACES), [en.PLACES, de.PLACES, fr.PLACES, es.PLACES, zh.PLACES, ja.PLACES]),
        "cities": (set(C.CITIES), [en.CITIES, de.CITIES, fr.CITIES, es.CITIES, zh.CITIES, ja.CITIES]),
        "days": (set(C.DAYS), [de.DAYS, fr.DAYS, es.DAYS, zh.DAYS, ja.DAYS]),
        "periods": (set(C.PERIODS), [en.PERIODS, de.PERIODS, fr.PERIODS, es.PERIODS, zh.PERIODS, ja.PERIODS]),
        "states": (set(C.STATES), [en.STATES, de.STATES, fr.STATES, es.STATES, zh.STATES, ja.STATES]),
        "weather": (set(C.WEATHER), [en.WEATHER, de.WEATHER, fr.WEATHER, es.WEATHER, zh.WEATHER, ja.WEATHER]),
    }
    for what, (wanted, lexicons) in tables.items():
        for lexicon in lexicons:
            assert wanted <= set(lexicon), f"{what}: missing {sorted(wanted - set(lexicon))}"
    rng = random.Random(0)
    for frame in FRAMES:
        for _ in range(40):
            slots = frame.sample(rng)
            for lang, realiser in REALISERS.items():
                text = realiser.realise(frame.name, slots).text
                assert text and text == text.strip() and "  " not in text, (lang, frame.name, text)
                assert text[-1] in ".?。？", (lang, frame.name, text)


GOLDEN = [  # (frame, slots, {lang: sentence}): agreement, elision, contraction, counters, measure words
    ("want", {"subj": "she", "noun": "bird", "adj": "beautiful"},
     {"en": "She wants a beautiful bird.", "de": "Sie möchte einen schönen Vogel.", "fr": "Elle veut un bel oiseau.",
      "es": "Ella quiere un pájaro bonito.", "zh": "她想要一只漂亮的鸟。", "ja": "彼女はきれいな鳥を欲しがっています。"}),
    ("need", {"subj": "I", "noun": "chair", "num": 1, "adj": "new"},
     {"en": "I need a new chair.", "de": "Ich brauche einen neuen Stuhl.", "fr": "J'ai besoin d'une nouvelle chaise.",
      "es": "Necesito una silla nueva.", "zh": "我需要一把新椅子。", "ja": "私は新しい椅子が必要です。"}),
    ("have_count", {"subj": "we", "noun": "pencil", "num": 3, "adj": None},
     {"en": "We have three pencils.", "de": "Wir haben drei Bleistifte.", "fr": "Nous avons trois crayons.",
      "es": "Tenemos tres lápices.", "zh": "我们有三支铅笔。", "ja": "私たちは鉛筆を三本持っています。"}),
    ("like", {"subj": "anna", "noun": "cat"},
     {"en": "Anna likes cats.", "de": "Anna mag Katzen.", "fr": "Anna aime les chats.",
      "es": "A Anna le gustan los gatos.", "zh": "安娜喜欢猫。", "ja": "アンナは猫が好きです。"}),
    ("dislike", {"subj": "I", "noun": "coffee"},
     {"en": "I do not like coffee.", "de": "Ich mag keinen Kaffee.", "fr": "Je n'aime pas le café.",
      "es": "No me gusta el café.", "zh": "我不喜欢咖啡。", "ja": "私はコーヒーが好きではありません。"}),
    ("consume", {"subj": "she", "noun": "water", "num": None, "period": "morning"},
     {"en": "She drinks water every morning.", "de": "Sie trinkt jeden Morgen Wasser.",
      "fr": "Elle boit de l'eau chaque matin.", "es": "Ella bebe agua cada mañana.", "zh": "她每天早上喝水。",
      "ja": "彼女は毎朝水を飲みます。"}),
    ("location", {"noun": "cat", "adj": "black", "prep": "next_to", "ref": "sofa"},
     {"en": "The black cat is next to the sofa.", "de": "Die schwarze Katze ist neben dem Sofa.",
      "fr": "Le chat noir est à côté du canapé.", "es": "El gato negro está al lado del sofá.",
      "zh": "黑色的猫在沙发旁边。", "ja": "黒い猫はソファーの横にいます。"}),
    ("go_day", {"subj": "we", "place": "beach", "day": "sunday"},
     {"en": "On Sunday we go to the beach.", "de": "Am Sonntag gehen wir an den Strand.",
      "fr": "Dimanche, nous allons à la plage.", "es": "El domingo vamos a la playa.", "zh": "星期天我们去海滩。",
      "ja": "私たちは日曜日にビーチへ行きます。"}),
    ("go_hour", {"subj": "emma", "place": "hospital", "hour": 1},
     {"en": "Emma goes to the hospital at one o'clock.", "de": "Emma geht um ein Uhr ins Krankenhaus.",
      "fr": "Emma va à l'hôpital à une heure.", "es": "Emma va al hospital a la una.", "zh": "艾玛一点去医院。",
      "ja": "エマは一時に病院へ行きます。"}),
    ("have_question", {"subj": "anna", "noun": "car", "adj": "old"},
     {"en": "Does Anna have an old car?", "de": "Hat Anna ein altes Auto?",
      "fr": "Est-ce qu'Anna a une vieille voiture ?", "es": "¿Tiene Anna un coche viejo?",
      "zh": "安娜有一辆旧汽车吗？", "ja": "アンナは古い車を持っていますか。"}),
    ("property", {"noun": "tree", "adj": "big"},
     {"en": "This tree is big.", "de": "Dieser Baum ist groß.", "fr": "Cet arbre est grand.",
      "es": "Este árbol es grande.", "zh": "这棵树很大。", "ja": "この木は大きいです。"}),
    ("how_many", {"noun": "apple", "place": "kitchen"},
     {"en": "How many apples are there in the kitchen?", "de": "Wie viele Äpfel gibt es in der Küche?",
      "fr": "Combien de pommes y a-t-il dans la cuisine ?", "es": "¿Cuántas manzanas hay en la cocina?",
      "zh": "厨房里有多少个苹果？", "ja": "台所にりんごは何個ありますか。"}),
    ("state", {"subj": "they", "state": "hungry"},
     {"en": "They are hungry today.", "de": "Sie haben heute Hunger.", "fr": "Ils ont faim aujourd'hui.",
      "es": "Ellos tienen hambre hoy.", "zh": "他们今天很饿。", "ja": "彼らは今日お腹が空いています。"}),
    ("age", {"subj": "leo", "num": 2},
     {"en": "Leo is two years old.", "de": "Leo ist zwei Jahre alt.", "fr": "Leo a deux ans.",
      "es": "Leo tiene dos años.", "zh": "利奥两岁。", "ja": "レオは二歳です。"}),
    ("give_me", {"noun": "plate", "adj": "white"},
     {"en": "Please give me the white plate.", "de": "Bitte gib mir den weißen Teller.",
      "fr": "Donne-moi l'assiette blanche, s'il te plaît.", "es": "Dame el plato blanco, por favor.",
      "zh": "请把白色的盘子给我。", "ja": "白い皿をください。"}),
    ("compare", {"noun": "bicycle", "noun2": "car", "adj": "cheap"},
     {"en": "The bicycle is cheaper than the car.", "de": "Das Fahrrad ist billiger als das Auto.",
      "fr": "Le vélo est moins cher que la voiture.", "es": "La bicicleta es más barata que el coche.",
      "zh": "自行车比汽车便宜。", "ja": "自転車は車より安いです。"}),
    ("exist_count", {"place": "park", "noun": "child", "num": 20, "adj": None},
     {"en": "There are twenty children in the park.", "de": "Im Park gibt es zwanzig Kinder.",
      "fr": "Il y a vingt enfants dans le parc.", "es": "Hay veinte niños en el parque.",
      "zh": "公园里有二十个孩子。", "ja": "公園に子供が二十人います。"}),
]


@pytest.mark.parametrize("frame,slots,expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_sentences(frame, slots, expected):
    for lang, sentence in expected.items():
        assert REALISERS[lang].realise(frame, slots).text == sentence


def test_readings_for_espeak():
    """Japanese readings have the counters' sound changes and particles as said; zh gets tone pinyin."""
    assert counted(3, "本").say == "さんぼん" and counted(6, "匹").say == "ろっぴき"
    assert counted(20, "歳").say == "はたち" and counted(18, "本").say == "じゅうはっぽん"
    assert counted(11, "人").say == "じゅういちにん" and counted(2, "人").say == "ふたり"
    assert counted(20, "本").text == "二十本" and counted(4, "時").say == "よじ"
    ja_sentence = REALISERS["ja"].realise("go_hour", {"subj": "anna", "place": "station", "hour": 9})
    assert ja_sentence.text == "アンナは九時に駅へ行きます。"
    assert speakable(ja_sentence) == "アンナわくじにえきえいきます。"
    zh_sentence = REALISERS["zh"].realise("exist_count", {"place": "park", "noun": "dog", "num": 2, "adj": None})
    assert speakable(zh_sentence) == "gong1 yuan2 li3 you3 liang3 zhi1 gou3 ."
    corpus = build_corpus(SEED, SUPPORTED_LANGS, SizeSpec(0, 0, 0, 300, 0))
    kana = re.compile(r"^[\u3040-\u30ff。、？ー]+$")
    for t in corpus.lm_train:
        assert kana.match(speakable(t.sentences["ja"])), t.text("ja")
        assert re.match(r"^([a-z]+[1-5]|[.?,]) ?", speakable(t.sentences["zh"]))
        assert not re.search(r"[\u4e00-\u9fff]", speakable(t.sentences["zh"]))


def test_determinism_and_seed():
    a = build_corpus(SEED, SUPPORTED_LANGS, TINY)
    b = build_corpus(SEED, ["ja", "en"], TINY)  # the tuples do not depend on the languages asked for
    c = build_corpus(SEED + 1, SUPPORTED_LANGS, TINY)
    for name in ("test", "dev", "lm_dev"):
        assert [t.sentences["en"].text for t in getattr(a, name)] == [t.sentences["en"].text for t in getattr(b, name)]
    again = build_corpus(SEED, SUPPORTED_LANGS, TINY)
    assert [t.text("de") for t in a.lm_train] == [t.text("de") for t in again.lm_train]
    assert [t.text("en") for t in a.test] != [t.text("en") for t in c.test]
    u1 = plan_utterance(a.test[0].sentences["de"], "test", a.test[0].id, SEED)
    u2 = plan_utterance(a.test[0].sentences["de"], "test", a.test[0].id, SEED)
    assert u1 == u2 and u1.utt.startswith(u1.spk + "-") and u1.spk.startswith("de-")


def test_held_out_never_in_training_text():
    corpus = build_corpus(SEED, SUPPORTED_LANGS, SizeSpec(train=100, dev=50, test=100, lm_train=5000, lm_dev=100))
    for lang in SUPPORTED_LANGS:
        train = {t.text(lang) for t in corpus.lm_train}
        for name in ("test", "dev", "lm_dev"):
            assert not train & {t.text(lang) for t in getattr(corpus, name)}, (lang, name)
    # Held-out sets are spread over the frames (a model must generalise, not memorise one pattern).
    assert len({t.frame for t in corpus.test}) >= 18


def test_bad_options():
    with pytest.raises(CorpusError, match="has no language xx"):
        parse_langs("en,xx")
    with pytest.raises(CorpusError, match="only 2 distinct sentences"):  # the world is finite (~290k)
        _take(iter(build_corpus(SEED, ["en"], SizeSpec(0, 0, 2, 0, 0)).test), 3, "test", 0)


# ---- the prepared corpus --------------------------------------------------------------------------
def test_every_language_in_every_split(tiny):
    root, summary = tiny
    for split, n in (("train", TINY.train), ("dev", TINY.dev), ("test", TINY.test)):
        utt2lang = read_kaldi(root / "data" / split / "utt2lang")
        counts = {lang: list(utt2lang.values()).count(lang) for lang in SUPPORTED_LANGS}
        assert counts == {lang: n for lang in SUPPORTED_LANGS}, (split, counts)


def test_kaldi_files_sorted_and_valid(tiny, monkeypatch):
    root, _ = tiny
    monkeypatch.chdir(root)  # wav.scp paths are relative to the recipe directory
    for split in SPLITS:
        d = root / "data" / split
        utt2spk = read_kaldi(d / "utt2spk")
        for utt, spk in utt2spk.items():
            assert utt.startswith(spk + "-") and re.match(r"^[a-z]{2}-[mf]\d$", spk), (utt, spk)
        for name in ("wav.scp", "text", "utt2spk", "utt2lang", "utt2dur", "spk2utt") + tuple(
                p.name for p in d.glob("text.*")):
            keys = read_keys(d / name)
            assert keys == sorted(keys, key=lambda k: k.encode("utf-8")) and len(set(keys)) == len(keys), name
        spk2utt = read_kaldi(d / "spk2utt")
        assert sorted(u for us in spk2utt.values() for u in us.split()) == sorted(utt2spk)
        try:
            from part.data.datadir import validate_data_dir
        except ImportError:  # the validator is another module of the toolkit
            continue
        report = validate_data_dir(d, check_audio=True, sample_rate=16000)
        assert report.ok, report.summary()


def test_translations_aligned(tiny):
    root, _ = tiny
    lm_train = {}
    for line in (root / "data" / "lm_text" / "train.jsonl").read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        assert set(obj) == {"id", *SUPPORTED_LANGS}
        lm_train[obj["id"]] = obj
    for split in SPLITS:
        d = root / "data" / split
        text, utt2lang = read_kaldi(d / "text"), read_kaldi(d / "utt2lang")
        by_tuple = {(utt.rsplit("-", 1)[1], lang): text[utt] for utt, lang in utt2lang.items()}
        text_en = read_kaldi(d / "text.en")
        assert set(text_en) == {u for u, lang in utt2lang.items() if lang != "en"}
        for utt, lang in utt2lang.items():
            tid = utt.rsplit("-", 1)[1]
            if split == "train":
                assert lm_train[tid][lang] == text[utt]
                if lang != "en":
                    assert text_en[utt] == lm_train[tid]["en"]
            else:  # dev and test: every tuple is spoken in every language
                if lang != "en":
                    assert text_en[utt] == by_tuple[(tid, "en")]
                else:
                    for tgt in SUPPORTED_LANGS[1:]:
                        assert read_kaldi(d / f"text.{tgt}")[utt] == by_tuple[(tid, tgt)]


def test_test_sentences_absent_from_training(tiny):
    root, _ = tiny
    train = set()
    for line in (root / "data" / "lm_text" / "train.jsonl").read_text(encoding="utf-8").splitlines():
        train.update(v for k, v in json.loads(line).items() if k != "id")
    for path in (root / "data" / "train").glob("text*"):
        train.update(read_kaldi(path).values())
    held = set()
    for split in ("dev", "test"):
        for path in (root / "data" / split).glob("text*"):
            held.update(read_kaldi(path).values())
    for line in (root / "data" / "lm_text" / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        held.update(v for k, v in json.loads(line).items() if k != "id")
    assert held and not (held & train)


def test_scripts(tiny):
    root, _ = tiny
    hanzi = re.compile(r"^[\u4e00-\u9fff。？，]+$")
    kanji, kana = re.compile(r"[\u4e00-\u9fff]"), re.compile(r"[\u3040-\u30ff]")
    texts = {lang: [] for lang in SUPPORTED_LANGS}
    for split in SPLITS:
        text, utt2lang = read_kaldi(root / "data" / split / "text"), read_kaldi(root / "data" / split / "utt2lang")
        for utt, lang in utt2lang.items():
            texts[lang].append(text[utt])
    assert all(hanzi.match(t) for t in texts["zh"]), texts["zh"]
    assert all(kana.search(t) and not re.search(r"[A-Za-z]", t) for t in texts["ja"]), texts["ja"]
    assert any(kanji.search(t) for t in texts["ja"]) and any(re.search(r"[\u3040-\u309f]", t) for t in texts["ja"])
    for lang in ("en", "de", "fr", "es"):
        assert all(re.match(r"^[¿]?[A-ZÀ-Ý]", t) for t in texts[lang]), lang


def test_audio(tiny):
    root, _ = tiny
    digests = set()
    for split in SPLITS:
        d = root / "data" / split
        durations = {u: float(v) for u, v in read_kaldi(d / "utt2dur").items()}
        for utt, wav in read_kaldi(d / "wav.scp").items():
            info = sf.info(str(root / wav))
            assert info.samplerate == 16000 and info.channels == 1, wav
            seconds = info.frames / info.samplerate
            assert 0.5 <= seconds <= 15 and abs(seconds - durations[utt]) < 0.01, (wav, seconds)
            digests.add(hashlib.sha1((root / wav).read_bytes()).hexdigest())
        assert not list((root / "downloads" / "embedded" / "wav" / split).glob("*.tmp"))
    n_utts = sum(len(read_keys(root / "data" / s / "wav.scp")) for s in SPLITS)
    assert len(digests) == n_utts  # every utterance sounds different
    # The same test sentence in two voices differs in more than noise; noise is present.
    utts = sorted(read_kaldi(root / "data" / "test" / "wav.scp").items())
    a, _ = sf.read(str(root / utts[0][1]))
    b, _ = sf.read(str(root / utts[1][1]))
    assert a.shape != b.shape or not np.allclose(a, b)
    assert np.std(a[:400]) > 0  # the leading silence carries the added noise


def test_rerun_skips_work(tiny, tmp_path, caplog):
    root, first = tiny
    assert not first["skipped_stage"] and first["made_wavs"] == 6 * (TINY.train + TINY.dev + TINY.test + TINY.noise)
    copy = tmp_path / "recipe"
    shutil.copytree(root, copy)
    caplog.set_level(logging.INFO, logger="part.data.embedded")
    start = time.time()
    again = prepare(copy, "tiny", SUPPORTED_LANGS, seed=SEED, nj=2, progress=False)
    assert again["skipped_stage"] and time.time() - start < 5
    assert "already made" in caplog.text
    # Without the marker, every WAV is still valid and kept; a broken one is made again.
    (copy / MARKER).unlink()
    wav = copy / read_kaldi(copy / "data" / "test" / "wav.scp")[read_keys(copy / "data" / "test" / "wav.scp")[0]]
    wav.write_bytes(wav.read_bytes()[:100])
    redo = prepare(copy, "tiny", SUPPORTED_LANGS, seed=SEED, nj=2, progress=False)
    assert redo["made_wavs"] == 1 and redo["skipped_wavs"] == first["made_wavs"] - 1
    assert sf.info(str(wav)).frames > 0
    for split in SPLITS:
        for name in ("text", "wav.scp", "text.en"):
            assert (copy / "data" / split / name).read_bytes() == (root / "data" / split / name).read_bytes()
    # Other options: said, remade, stale files gone.
    caplog.clear()
    other = prepare(copy, "tiny", ["en", "zh"], seed=SEED, nj=2, progress=False, overrides={"test": 2})
    assert "options changed" in caplog.text and "langs" in caplog.text
    # Utterances that are the same as before (the first two test tuples, most training ones) are kept.
    assert not other["skipped_stage"] and other["skipped_wavs"] >= 2 * 2 and other["made_wavs"] > 0
    assert set(read_kaldi(copy / "data" / "test" / "utt2lang").values()) == {"en", "zh"}
    assert {p.name for p in (copy / "data" / "test").glob("text.*")} == {"text.en", "text.zh"}
    assert len(list((copy / "downloads" / "embedded" / "wav" / "test").glob("*.wav"))) == 4


def test_noise_only_clips(tiny):
    """data/test_noise: per language, the noise of a test utterance without its speech, with a transcript
    that scoring normalises to nothing; a test set of its own, with no translations."""
    from part.data.datadir import validate_data_dir
    from part.scoring.normalize import get_normalizer

    root, summary = tiny
    assert summary["options"]["noise"] == TINY.noise > 0
    d = root / "data" / "test_noise"
    assert validate_data_dir(d, check_audio=False).ok
    utt2lang, text = read_kaldi(d / "utt2lang"), read_kaldi(d / "text")
    assert sorted(utt2lang.values()) == sorted(SUPPORTED_LANGS * TINY.noise)
    assert not list(d.glob("text.*"))
    for lang in SUPPORTED_LANGS:
        assert get_normalizer("whisper", lang)(set(text.values()).pop()).strip() == ""
    test_wavs = read_kaldi(root / "data" / "test" / "wav.scp")
    for utt, wav in read_kaldi(d / "wav.scp").items():
        lang, _, tuple_id = utt.split("-")
        noise, _ = sf.read(str(root / wav))
        voiced_utt = next(u for u in test_wavs if u.startswith(f"{lang}-") and u.endswith(f"-{tuple_id}"))
        voiced, _ = sf.read(str(root / test_wavs[voiced_utt]))
        # As long as its test utterance, at its noise level (15-30 dB below the speech: the voiced clip
        # is much louder), and not its noise: another draw.
        assert noise.shape == voiced.shape
        assert 0.02 < np.std(noise) / np.std(voiced) < 0.2, utt
        assert abs(np.corrcoef(noise, voiced)[0, 1]) < 0.1, utt


def test_data_dirs_come_from_the_shared_writer_and_records(tiny, tmp_path):
    """The embedded corpus writes through the data-dir writer of the real corpora: reading a split back
    as Utterance records and writing it again gives the same bytes."""
    from part.data.corpora.errors import CorpusError as SharedCorpusError
    from part.data.datadir import iter_utterances, write_utterances

    assert CorpusError is SharedCorpusError
    root, _ = tiny
    for split in SPLITS:
        utts = list(iter_utterances(root / "data" / split))
        assert all(u.duration is not None and u.translations for u in utts)
        again = tmp_path / split
        write_utterances(again, utts)
        original = root / "data" / split
        assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in original.iterdir())
        for path in again.iterdir():
            assert path.read_bytes() == (original / path.name).read_bytes(), path.name


@needs_espeak
def test_command_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "part.data.embedded.prepare", "--help"], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 0 and "--size" in out.stdout and "--langs" in out.stdout
    out = subprocess.run(["bash", str(REPO / "egs" / "mini_multilingual" / "local" / "data.sh"), "--help"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 0 and "--size" in out.stdout and "--nj" in out.stdout
    # The last line on stdout names the test sets (recipe stage 1 records them); none without noise clips.
    out = subprocess.run([sys.executable, "-m", "part.data.embedded.prepare", "--out", str(tmp_path), "--size",
                          "tiny", "--langs", "en", "--num_train", "1", "--num_dev", "1", "--num_test", "1",
                          "--num_noise", "0", "--no_progress"], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "test_sets: test", out.stderr
    assert not (tmp_path / "data" / "test_noise").exists()
    out = subprocess.run([sys.executable, "-m", "part.data.embedded.prepare", "--langs", "en,xx", "--out",
                          "/nonexistent"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 1 and "no language xx" in out.stderr


def test_every_split_and_language_has_the_same_mix_of_frames():
    # Frames with few sentences run out early in the stream; the splits must not inherit that order
    # (the held-out sets once had frames that the later languages' training slices lacked entirely).
    spec = SizeSpec(train=1500, dev=30, test=100, lm_train=20000, lm_dev=500)
    corpus = build_corpus(SEED, SUPPORTED_LANGS, spec)

    def mix(tuples):
        counts = collections.Counter(t.frame for t in tuples)
        return {f: n / len(tuples) for f, n in counts.items()}

    def distance(a, b):  # total variation distance between two frame distributions
        return 0.5 * sum(abs(a.get(f, 0.0) - b.get(f, 0.0)) for f in set(a) | set(b))

    held_out = mix(corpus.test + corpus.dev + corpus.lm_dev)
    for lang in SUPPORTED_LANGS:
        assert distance(mix(corpus.speech_train[lang]), held_out) < 0.15, lang  # in order: up to 0.37
    assert distance(mix(corpus.lm_train), held_out) < 0.15
