"""Tiny corpora in the layouts of the real releases, for tests of data preparation and recipes.

Each ``make_*`` function takes a folder (e.g. pytest's ``tmp_path / "cv"``), writes a corpus there the way
its release lays it out, with real audio (48 kHz mp3 for Common Voice, 16 kHz Ogg/Opus for WenetSpeech,
16 kHz wav for FLEURS and the generic layout) and with the awkward rows real releases have: quotes and
tabs inside sentences, a sentence of 100,000 characters, no-break and ideographic spaces that must be
kept, empty sentences, listed-but-missing clips, repeated rows, a clip listed in two splits, names and
ids with spaces, byte-order marks and CRLF line ends, FLEURS rows sharing a sentence id, escaped line
breaks in CoVoST translations, WenetSpeech segments that repeat an id, are empty, or end past the end
of their recording. Each ``make_*`` returns a record of what it made, so that a test can compute what
a correct preparation must produce (and which rows it must skip, by file and line or JSON path). The
corpora are small (a few dozen short clips): building all of them takes about a second.

Example::

    cv = make_commonvoice(tmp_path / "cv", locales=("de", "zh-CN"))
    cv.expected["train"]        # [CvClip(locale, clip, client_id, text), ...] that must come out
    cv.missing["de"]            # clip names listed in train.tsv of de but absent from clips/
"""
from __future__ import annotations

import csv
import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile

CV_HEADER_V15 = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accents",
                 "variant", "locale", "segment"]
CV_HEADER_V17 = ["client_id", "path", "sentence_id", "sentence", "sentence_domain", "up_votes", "down_votes",
                 "age", "gender", "accents", "variant", "locale", "segment"]
CLIP_SECONDS = 0.4


def tone(seconds: float, rate: int, freq: float = 220.0, seed: int = 0) -> np.ndarray:
    """A quiet sine with a little noise (mono float32): real audio, small files."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.01, t.shape)
    return (0.2 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def write_audio(path: Path, seconds: float, rate: int, fmt: str, seed: int = 0) -> Path:
    """Write a tone as ``fmt``: ``mp3``, ``opus`` (Ogg/Opus) or ``wav`` (16-bit)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = tone(seconds, rate, 200.0 + 20 * (seed % 10), seed)
    if fmt == "mp3":
        soundfile.write(str(path), samples, rate, format="MP3")
    elif fmt == "opus":
        soundfile.write(str(path), samples, rate, format="OGG", subtype="OPUS")
    else:
        soundfile.write(str(path), samples, rate, subtype="PCM_16")
    return path


def _one_line(text: str) -> str:
    """What a data dir keeps of a transcript: the text verbatim, Unicode spaces included, but tabs and
    line breaks as spaces and runs of ASCII spaces as one."""
    return " ".join(part for part in text.replace("\t", " ").replace("\n", " ").split(" ") if part)


def client_id(name: str) -> str:
    """A contributor id as Common Voice writes it: 128 hex digits."""
    return hashlib.sha512(name.encode()).hexdigest()


def _write_plain_tsv(path: Path, rows: Sequence[Sequence[str]], windows: bool = False) -> None:
    """Tab-joined lines, no quoting, no escaping: how Common Voice and FLEURS write their TSVs.
    ``windows``: a byte-order mark and CRLF line ends, as a file saved by a Windows editor has."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig" if windows else "utf-8", newline="\r\n" if windows else "\n") as handle:
        for row in rows:
            handle.write("\t".join(row) + "\n")


def _write_escaped_tsv(path: Path, rows: Sequence[Sequence[str]]) -> None:
    """How pandas' ``to_csv(sep='\\t', quoting=QUOTE_NONE, escapechar='\\\\')`` writes (CoVoST's TSVs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
        writer.writerows(rows)


# ----------------------------------------------------------------------------------------------
# Common Voice


@dataclass
class CvClip:
    locale: str
    clip: str  # file name in clips/
    client_id: str
    text: str  # the transcript a correct preparation writes (whitespace collapsed)
    sentence: str = ""  # as written in the TSV


@dataclass
class CommonVoiceFixture:
    root: Path
    locales: Tuple[str, ...]
    expected: Dict[str, List[CvClip]] = field(default_factory=dict)  # split -> clips that must come out
    missing: Dict[str, List[str]] = field(default_factory=dict)  # locale -> listed clips absent from clips/
    empty: Dict[str, List[str]] = field(default_factory=dict)  # locale -> clips with an empty sentence
    # locale -> "train.tsv:<line>" of rows to skip: a repeat of an earlier row, a test clip, a clip name
    # with a space
    repeated: Dict[str, str] = field(default_factory=dict)
    two_splits: Dict[str, str] = field(default_factory=dict)
    bad_name: Dict[str, str] = field(default_factory=dict)
    validated_only: List[CvClip] = field(default_factory=list)  # in validated.tsv, in no split
    eval_related: List[CvClip] = field(default_factory=list)  # in validated.tsv, speaker/sentence of dev/test


# Sentences per locale: (train, dev, test). Train has the awkward ones.
_CV_SENTENCES = {
    "de": (["Guten Morgen.", 'Er sagte: "Hallo" und ging.', "Ein\tTabulator  steht hier.",
            "Sie nannte es \"'s Gärtle\". Es kostet 1\u202f000\u00a0€."],
           ["Wie spät ist es?", "Das Wetter ist schön."], ["Ich lese ein Buch.", "Wir fahren morgen."]),
    "zh-CN": (["今天\u3000天气很好。", "他说“你好”。", "我们去公园吧", "请把门关上。"], ["现在几点了？", "我喜欢喝茶。"],
              ["这是一本书。", "明天见。"]),
    "fr": (["Bonjour à tous.", "Il a dit « oui ».", "C'est l'été.", "Où est la gare ?"],
           ["Quelle heure est-il ?", "Il fait beau."], ["Je lis un livre.", "À demain."]),
    "en": (["Good morning.", 'She said "hi".', "It's a tab\there.", "Read it aloud."],
           ["What time is it?", "The weather is nice."], ["I read a book.", "See you tomorrow."]),
}


def make_commonvoice(root: Path, locales: Sequence[str] = ("de", "zh-CN"), header: Sequence[str] = CV_HEADER_V15,
                     seconds: float = CLIP_SECONDS, long_sentence: bool = False) -> CommonVoiceFixture:
    """A Common Voice release (layout of 15.0) below ``root`` with the given locales.

    Per locale: train.tsv with 4 good rows (quotes, a tab inside a sentence, double spaces, no-break
    and ideographic spaces to keep), one row with an empty sentence and one whose clip is missing from
    clips/ (lines 6 and 7), then a good row (with ``long_sentence``, its sentence has 100,000 characters:
    too long a target for the recipes' tiny models), a repeat of the first row, a row of a test clip and
    one whose clip name has a space (lines 8-11); dev.tsv and test.tsv
    with 2 rows (test 3); validated.tsv with all of them plus 2 more clips (one of a dev speaker);
    invalidated.tsv, other.tsv, reported.tsv and times.txt as the release has them. The train.tsv of
    the second locale has a byte-order mark and CRLF line ends.
    """
    root = Path(root)
    made = CommonVoiceFixture(root, tuple(locales), {s: [] for s in ("train", "dev", "test")})
    for index, locale in enumerate(locales):
        lang_dir = root / locale
        clips = lang_dir / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        train_s, dev_s, test_s = _CV_SENTENCES.get(locale, _CV_SENTENCES["en"])
        counter = [1000 * (index + 1)]
        made.missing[locale] = []
        made.empty[locale] = []
        table: Dict[str, List[List[str]]] = {name: [] for name in ("train", "dev", "test", "validated",
                                                                   "invalidated", "other")}

        def row(speaker: str, sentence: str, split: str, create: bool = True) -> CvClip:
            counter[0] += 1
            clip = f"common_voice_{locale}_{counter[0]}.mp3"
            cid = client_id(f"{locale}-{speaker}")
            if create:
                write_audio(clips / clip, seconds, 48000, "mp3", seed=counter[0])
            values = {"client_id": cid, "path": clip, "sentence": sentence, "sentence_id": f"s{counter[0]}",
                      "sentence_domain": "", "up_votes": "2", "down_votes": "0", "age": "thirties",
                      "gender": "female_feminine", "accents": "", "variant": "", "locale": locale, "segment": ""}
            line = [values[name] for name in header]
            table[split].append(line)
            if split in ("train", "dev", "test"):
                table["validated"].append(line)
            return CvClip(locale, clip, cid, _one_line(sentence), sentence)

        for i, sentence in enumerate(train_s):
            made.expected["train"].append(row(f"t{i % 2}", sentence, "train"))
        made.empty[locale].append(row("t0", "", "train").clip)
        made.missing[locale].append(row("t1", train_s[0] + " (missing)", "train", create=False).clip)
        pasted = "Wort " * 20000 + "Ende." if long_sentence else train_s[2] + " Noch einmal."
        made.expected["train"].append(row("t2", pasted, "train"))
        train_tsv = lang_dir / "train.tsv"
        table["train"].append(table["train"][0])  # the same row again
        made.repeated[locale] = f"{train_tsv}:{len(table['train']) + 1}"
        for i, sentence in enumerate(dev_s):
            made.expected["dev"].append(row(f"d{i}", sentence, "dev"))
        for i, sentence in enumerate(test_s + [test_s[0] + " Noch einmal."]):
            made.expected["test"].append(row(f"e{i}", sentence, "test"))
        table["train"].append(table["test"][-1])  # a test clip also listed for training
        made.two_splits[locale] = f"{train_tsv}:{len(table['train']) + 1}"
        spaced = row("t3", train_s[1], "train")
        spaced_name = spaced.clip.replace("_", " ", 1)
        (clips / spaced.clip).rename(clips / spaced_name)
        table["train"][-1][header.index("path")] = spaced_name
        table["validated"].pop()
        made.bad_name[locale] = f"{train_tsv}:{len(table['train']) + 1}"
        made.validated_only.append(row("t0", train_s[1] + " nochmal", "validated"))
        made.eval_related.append(row("d0", dev_s[0] + " bis", "validated"))
        row("x", "Falsch gelesen.", "invalidated")
        row("y", "Noch nicht bewertet.", "other")
        for name, lines in table.items():
            _write_plain_tsv(lang_dir / f"{name}.tsv", [list(header)] + lines, windows=(name == "train" and index == 1))
        _write_plain_tsv(lang_dir / "reported.tsv", [["sentence", "sentence_id", "locale", "reason"]])
        _write_plain_tsv(lang_dir / "times.txt", [["clip", "duration[ms]"]])
    return made


# ----------------------------------------------------------------------------------------------
# FLEURS


@dataclass
class FleursRow:
    code: str
    split: str
    sentence_id: str
    file_name: str
    raw: str
    normalized: str


@dataclass
class FleursFixture:
    root: Path
    codes: Tuple[str, ...]
    expected: Dict[str, List[FleursRow]] = field(default_factory=dict)  # split -> rows that must come out
    missing: List[FleursRow] = field(default_factory=list)  # rows whose wav is absent
    malformed: List[str] = field(default_factory=list)  # "file:line" of rows with a wrong field count
    bad_name: List[str] = field(default_factory=list)  # "file:line" of rows whose wav name has a space
    empty: List[str] = field(default_factory=list)  # "file:line" of rows with an empty transcription


_FLEURS_TEXT = {
    "en_us": ["The cat sat on the mat.", "He said \"stop\", then left.", "Paris is in France.",
              "Rain is expected tomorrow.", "Turn left at the bridge."],
    "de_de": ["Die Katze saß auf der Matte.", "Er sagte „Halt“ und ging.", "Paris liegt in Frankreich.",
              "Morgen wird Regen erwartet.", "Biegen Sie an der Brücke links ab."],
    "cmn_hans_cn": ["猫坐在垫子上。", "他说“停”，然后走了。", "巴黎\u3000在法国。", "明天预计有雨。", "在桥那里左转。"],
    "fr_fr": ["Le chat était sur le tapis.", "Il a dit «\u00a0stop\u00a0», puis il est parti.", "Paris est en France.",
              "De la pluie est attendue demain.", "Tournez à gauche au pont."],
}
# Sentence ids of the splits: FLEURS splits sentences the same way in every language.
_FLEURS_SPLIT_IDS = {"train": [1, 2, 3], "dev": [4], "test": [5]}


def _normalize(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def make_fleurs(root: Path, codes: Sequence[str] = ("de_de", "cmn_hans_cn", "en_us"), audio_layout: str = "extracted",
                seconds: float = CLIP_SECONDS) -> FleursFixture:
    """FLEURS below ``root`` in the layout of the dataset repository's ``data/`` folder.

    Per language and split: ``<code>/<split>.tsv`` (no header, 7 columns) and the wav files. Sentence 1
    of train is read by two speakers (two rows, one sentence id); train also has a row whose wav is
    missing, a malformed row (6 fields), a row whose wav name has a space and one with an empty
    transcription; the train.tsv of the first language has CRLF line ends. ``audio_layout``: ``extracted``
    puts the wavs in ``audio/<split>/`` (as ``tar -xzf audio/<split>.tar.gz -C audio`` does) and keeps the archives;
    ``archive`` writes only ``audio/<split>.tar.gz`` (not extracted yet).
    """
    root = Path(root)
    made = FleursFixture(root, tuple(codes), {s: [] for s in _FLEURS_SPLIT_IDS})
    for index, code in enumerate(codes):
        texts = _FLEURS_TEXT.get(code, _FLEURS_TEXT["en_us"])
        lang_dir = root / code
        audio = lang_dir / "audio"
        audio.mkdir(parents=True, exist_ok=True)
        for split, ids in _FLEURS_SPLIT_IDS.items():
            lines, files = [], []
            for sid in ids:
                readers = 2 if (split == "train" and sid == 1) else 1
                for reader in range(readers):
                    file_name = f"{(index + 1) * 10**7 + sid * 100 + reader}.wav"
                    raw = texts[sid - 1]
                    rate = 16000
                    num = int(seconds * rate)
                    lines.append([str(sid), file_name, raw, _normalize(raw),
                                  " ".join(raw.replace(" ", "|")), str(num),
                                  "FEMALE" if reader else "MALE"])
                    files.append(file_name)
                    made.expected[split].append(FleursRow(code, split, str(sid), file_name, raw, _normalize(raw)))
            if split == "train":
                missing = FleursRow(code, split, "2", f"{(index + 1) * 10**7 + 299}.wav", texts[1],
                                    _normalize(texts[1]))
                lines.append([missing.sentence_id, missing.file_name, missing.raw, missing.normalized, "x",
                              "6400", "MALE"])
                made.missing.append(missing)
                lines.append(["3", "broken.wav", texts[2], "6400", "FEMALE"][:6])
                made.malformed.append(f"{lang_dir / 'train.tsv'}:{len(lines)}")
                spaced = f"{(index + 1) * 10**7 + 398} copy.wav"
                write_audio(audio / split / spaced, seconds, 16000, "wav", seed=index)
                lines.append(["3", spaced, texts[2], _normalize(texts[2]), "x", "6400", "MALE"])
                made.bad_name.append(f"{lang_dir / 'train.tsv'}:{len(lines)}")
                lines.append(["3", f"{(index + 1) * 10**7 + 397}.wav", "", "", "", "0", "MALE"])
                files.append(lines[-1][1])
                made.empty.append(f"{lang_dir / 'train.tsv'}:{len(lines)}")
            _write_plain_tsv(lang_dir / f"{split}.tsv", lines, windows=(split == "train" and index == 0))
            wav_dir = audio / split
            for n, file_name in enumerate(files):
                write_audio(wav_dir / file_name, seconds, 16000, "wav", seed=index * 100 + n)
            with tarfile.open(audio / f"{split}.tar.gz", "w:gz") as archive:
                archive.add(wav_dir, arcname=split)
            if audio_layout == "archive":
                for path in wav_dir.iterdir():
                    path.unlink()
                wav_dir.rmdir()
    return made


# ----------------------------------------------------------------------------------------------
# WenetSpeech


@dataclass
class WenetSegment:
    aid: str
    sid: str
    begin: float
    end: float
    text: str
    subsets: Tuple[str, ...]


@dataclass
class WenetSpeechFixture:
    root: Path
    segments: List[WenetSegment] = field(default_factory=list)  # every segment that must come out
    missing_audio: List[str] = field(default_factory=list)  # sids of a recording whose opus is absent
    bad_times: List[str] = field(default_factory=list)  # sids with end <= begin
    # JSON paths ("audios[i].segments[k]") of segments to skip, by what is wrong with them
    repeated: List[str] = field(default_factory=list)  # a sid used by an earlier segment
    past_end: List[str] = field(default_factory=list)  # ends past the end of its recording
    bad_ids: List[str] = field(default_factory=list)  # a sid with a space

    def subset(self, label: str) -> List[WenetSegment]:
        return [s for s in self.segments if label in s.subsets]


def make_wenetspeech(root: Path, braces: bool = False, seconds: float = 3.0, bom: bool = False) -> WenetSpeechFixture:
    """WenetSpeech below ``root``: ``WenetSpeech.json`` and 16 kHz opus recordings in ``audio/``.

    Recordings: a YouTube one in L/M/S (training), a podcast one in L only, one each for DEV, TEST_NET
    and TEST_MEETING, one in L whose opus file is missing, and one in L whose entry has no ``duration``.
    Kept: an ideographic space inside a text, a segment ending 0.05 s after its recording (rounding).
    Skipped: a segment with end < begin and one with end == begin, a repeated sid (with other text),
    a sid with a space, and segments ending 0.6 s past the end of their recording (one of them in the
    entry without a duration, whose length is in the audio's header). ``braces`` writes subset labels
    as ``{L}`` instead of the release's ``L``; ``bom`` starts the JSON with a byte-order mark.
    """
    root = Path(root)
    made = WenetSpeechFixture(root)
    label = (lambda s: "{" + s + "}") if braces else (lambda s: s)
    plan = [
        ("Y0000000000_--5llN02F84", "audio/train/youtube/B00000", [
            (0.5, 1.3, "今天天气怎么样", ("L", "M", "S")), (1.5, 2.25, "还不错 OK 的", ("L", "M")),
            (2.3, 2.9, "今天\u3000下雨", ("L", "M"))]),
        ("X0000000001_100000000_S00001", "audio/train/podcast/B00001", [
            (0.2, 1.0, "我们开始吧", ("L",)), (2.5, seconds + 0.05, "最后一句", ("L",))]),
        ("Y0000000002_dev", "audio/dev/youtube", [(0.0, 1.2, "开发集的句子", ("DEV",))]),
        ("Y0000000003_net", "audio/test_net/youtube", [(0.3, 1.1, "测试网络", ("TEST_NET",))]),
        ("M0000000004_meet", "audio/test_meeting", [(1.0, 2.5, "会议测试", ("TEST_MEETING",))]),
    ]
    audios = []
    for n, (aid, folder, segs) in enumerate(plan):
        rel = f"{folder}/{aid}.opus"
        write_audio(root / rel, seconds, 16000, "opus", seed=n)
        segments = []
        for k, (begin, end, text, subsets) in enumerate(segs):
            sid = f"{aid}_S{k:05d}"
            segments.append({"sid": sid, "confidence": 1.0, "begin_time": begin, "end_time": end, "text": text,
                             "subsets": [label(s) for s in subsets]})
            made.segments.append(WenetSegment(aid, sid, begin, end, text, subsets))

        def awkward(sid: str, begin: float, end: float, text: str, subsets=("L",)) -> str:
            segments.append({"sid": sid, "confidence": 1.0, "begin_time": begin, "end_time": end, "text": text,
                             "subsets": [label(s) for s in subsets]})
            return f"audios[{n}].segments[{len(segments) - 1}]"

        if n == 0:
            made.bad_times.append(f"{aid}_S{len(segments):05d}")
            awkward(made.bad_times[-1], 2.6, 2.4, "坏的")
            made.bad_times.append(f"{aid}_S{len(segments):05d}")
            awkward(made.bad_times[-1], 2.6, 2.6, "空的")
            made.repeated.append(awkward(segments[0]["sid"], 2.0, 2.2, "重复的", ("L", "M")))
            made.bad_ids.append(awkward(f"{aid}_S 99", 0.1, 0.4, "空格"))
        if n == 1:
            made.past_end.append(awkward(f"{aid}_S{len(segments):05d}", 2.5, seconds + 0.6, "太长了"))
        audios.append({"aid": aid, "duration": seconds, "format": "opus", "md5": "0" * 32, "path": rel,
                       "source": "youtube" if aid.startswith("Y") else "podcast", "tag": {"TEST": None},
                       "url": "", "segments": segments})
    gone = "Y0000000005_gone"
    audios.append({"aid": gone, "duration": seconds, "format": "opus", "path": f"audio/train/youtube/{gone}.opus",
                   "segments": [{"sid": f"{gone}_S00000", "begin_time": 0.0, "end_time": 1.0, "text": "不存在",
                                 "confidence": 1.0, "subsets": [label("L")]}]})
    made.missing_audio.append(f"{gone}_S00000")
    undated = "Y0000000006_undated"
    write_audio(root / f"audio/train/youtube/{undated}.opus", seconds, 16000, "opus", seed=6)
    audios.append({"aid": undated, "format": "opus", "path": f"audio/train/youtube/{undated}.opus", "segments": [
        {"sid": f"{undated}_S00000", "begin_time": 0.0, "end_time": 1.0, "text": "没有时长", "subsets": [label("L")]},
        {"sid": f"{undated}_S00001", "begin_time": 2.0, "end_time": seconds + 0.6, "text": "太长",
         "subsets": [label("L")]},
    ]})
    made.segments.append(WenetSegment(undated, f"{undated}_S00000", 0.0, 1.0, "没有时长", ("L",)))
    made.past_end.append(f"audios[{len(audios) - 1}].segments[1]")
    manifest = {"dataset": "WenetSpeech", "language": "Mandarin", "version": "v1.0.0",
                "audios": audios}
    text = json.dumps(manifest, ensure_ascii=False, indent=2)
    (root / "WenetSpeech.json").write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return made


# ----------------------------------------------------------------------------------------------
# CoVoST 2


@dataclass
class CovostRow:
    pair: str
    split: str  # train, dev or test (train_covost rows are train)
    clip: CvClip
    translation: str  # as a correct preparation writes it


@dataclass
class CovostFixture:
    covost_dir: Path
    cv: CommonVoiceFixture
    pairs: Tuple[str, ...]
    expected: Dict[str, List[CovostRow]] = field(default_factory=dict)  # split -> rows that must come out
    missing: List[str] = field(default_factory=list)  # clips the TSV lists that Common Voice lacks
    repeated: List[str] = field(default_factory=list)  # clips of a row that repeats an earlier row
    two_splits: List[str] = field(default_factory=list)  # test clips also listed as train
    unknown_split: List[str] = field(default_factory=list)  # clips of a row whose split value is unknown


_TRANSLATIONS = ['He said "hello" and left.', "A\ttab and a back\\slash.", "Good day.", "Close the door.",
                 "What time is it?", "I like tea.", "This is a book.", "See you tomorrow.", "Two\nlines."]


def make_covost2(covost_dir: Path, cv: CommonVoiceFixture, pairs: Sequence[str] = ("de_en", "zh-CN_en"),
                 layout: str = "combined") -> CovostFixture:
    """CoVoST 2 translation TSVs in ``covost_dir`` over the clips of the Common Voice fixture ``cv``.

    For each ``<src>_en`` pair: the train clips of ``cv`` as ``train`` (one as ``train_covost``), its dev
    and test clips (the first dev clip goes to CoVoST's train instead, as the two corpora split clips
    differently), plus a row for a clip Common Voice does not have, a repeat of the first row, a test
    clip listed as train too, and (combined layouts) a row with the split value ``validation``.
    Translations contain quotes, a tab, a backslash and a line break (escaped with a backslash, as pandas
    writes them). ``layout``: ``combined`` writes
    ``covost_v2.<src>_<tgt>.tsv`` (path, sentence, translation, client_id, split); ``split`` writes the
    per-split files of ``get_covost_splits.py``; ``no_sentence`` writes the combined file with only
    path, translation and split (transcripts then come from validated.tsv).
    """
    covost_dir = Path(covost_dir)
    made = CovostFixture(covost_dir, cv, tuple(pairs), {s: [] for s in ("train", "dev", "test")})
    for pair in pairs:
        src, tgt = pair.rsplit("_", 1)
        rows: List[Tuple[str, CvClip, str]] = []  # (split value, clip, translation)
        clips = {s: [c for c in cv.expected[s] if c.locale == src] for s in ("train", "dev", "test")}
        n = 0
        for split_value, clip in ([("train", c) for c in clips["train"]] + [("train", clips["dev"][0])]
                                  + [("dev", c) for c in clips["dev"][1:]] + [("test", c) for c in clips["test"]]):
            translation = _TRANSLATIONS[n % len(_TRANSLATIONS)]
            if n == 2:
                split_value = "train_covost"
            rows.append((split_value, clip, translation))
            split = "train" if split_value == "train_covost" else split_value
            made.expected[split].append(CovostRow(pair, split, clip, " ".join(translation.split())))
            n += 1
        ghost = CvClip(src, f"common_voice_{src}_99999999.mp3", client_id("ghost"), "Nicht da.", "Nicht da.")
        rows.append(("train", ghost, "Not there."))
        made.missing.append(ghost.clip)
        rows.append(rows[0])
        made.repeated.append(rows[0][1].clip)
        rows.append(("train", clips["test"][0], "Trained on the test set."))
        made.two_splits.append(clips["test"][0].clip)
        if layout != "split":
            rows.append(("validation", clips["train"][1], "A split that does not exist."))
            made.unknown_split.append(clips["train"][1].clip)
        if layout == "split":
            for split in ("train", "dev", "test"):
                lines = [["path", "sentence", "translation", "client_id"]]
                lines += [[c.clip, c.sentence, t, c.client_id] for s, c, t in rows
                          if (s == split or (split == "train" and s == "train_covost"))]
                _write_escaped_tsv(covost_dir / f"covost_v2.{src}_{tgt}.{split}.tsv", lines)
        elif layout == "no_sentence":
            lines = [["path", "translation", "split"]] + [[c.clip, t, s] for s, c, t in rows]
            _write_escaped_tsv(covost_dir / f"covost_v2.{src}_{tgt}.tsv", lines)
        else:
            lines = [["path", "sentence", "translation", "client_id", "split"]]
            lines += [[c.clip, c.sentence, t, c.client_id, s] for s, c, t in rows]
            _write_escaped_tsv(covost_dir / f"covost_v2.{src}_{tgt}.tsv", lines)
    return made


# ----------------------------------------------------------------------------------------------
# The generic layout


@dataclass
class GenericFixture:
    tsv: Path
    expected: Dict[str, Tuple[str, str, str, Dict[str, str]]] = field(default_factory=dict)
    # utterance id -> (speaker, lang, text, translations)
    missing: List[str] = field(default_factory=list)
    skipped: Dict[str, str] = field(default_factory=dict)  # "train.tsv:<line>" -> the reason it is skipped for


def make_generic(root: Path, rate: int = 16000) -> GenericFixture:
    """A folder of audio files (wav at ``rate``, one flac, one mp3) and ``train.tsv`` listing them, saved
    with a byte-order mark and CRLF line ends. Besides the good rows (one with a no-break space before
    ``?``, kept): a missing file, an empty transcript, an id with a no-break space in it, an id used
    by an earlier row, and an unknown language."""
    root = Path(root)
    made = GenericFixture(root / "train.tsv")
    rows = [["id", "path", "text", "lang", "speaker", "translation_en", "translation_de"]]
    items = [
        ("anna-001", "wav/anna-001.wav", 'Sie sagte "ja".', "de", "anna", "She said \"yes\".", ""),
        ("002", "wav/li-002.flac", "你好", "zh-CN", "li", "Hello", "Hallo"),
        ("bob-003", "mp3/bob-003.mp3", "Good evening", "en", "bob", "", "Guten Abend"),
        ("zoe-006", "wav/zoe-006.wav", "Où est la gare\u00a0?", "fr", "zoe", "Where is the station?", ""),
    ]
    for n, (uid, rel, text, lang, spk, en, de) in enumerate(items):
        fmt = "mp3" if rel.endswith(".mp3") else "wav"
        if rel.endswith(".flac"):
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(path), tone(CLIP_SECONDS, rate, seed=n), rate, format="FLAC")
        else:
            write_audio(root / rel, CLIP_SECONDS, 48000 if fmt == "mp3" else rate, fmt, seed=n)
        rows.append([uid, rel, text, lang, spk, en, de])
        utt = uid if uid.startswith(spk) else f"{spk}-{uid}"
        canonical = {"zh-CN": "zh"}.get(lang, lang)
        translations = {k: v for k, v in (("en", en), ("de", de)) if v and k != canonical}
        made.expected[utt] = (spk, canonical, text, translations)
    rows.append(["carl-004", "wav/carl-004.wav", "Missing file", "en", "carl", "", ""])
    made.missing.append("carl-004")
    rows.append(["dora-005", "wav/anna-001.wav", "   ", "de", "dora", "", ""])  # empty transcript
    for row, reason in ((["eve\u00a0007", "wav/anna-001.wav", "Hallo", "de", "", "", ""], "bad id"),
                        (["anna-001", "wav/anna-001.wav", "Noch einmal", "de", "anna", "", ""], "repeated id"),
                        (["fay-008", "wav/anna-001.wav", "Hallo", "klingon", "fay", "", ""], "unknown language")):
        rows.append(row)
        made.skipped[f"{made.tsv}:{len(rows)}"] = reason
    _write_plain_tsv(made.tsv, rows, windows=True)
    return made


# ----------------------------------------------------------------------------------------------
# All at once (the multilingual recipe)


@dataclass
class AllCorpora:
    commonvoice: CommonVoiceFixture
    fleurs: FleursFixture
    covost2: CovostFixture


def make_all(root: Path) -> AllCorpora:
    """Common Voice (de, zh-CN, en), FLEURS (de_de, cmn_hans_cn, en_us) and CoVoST 2 (de_en, zh-CN_en) below
    ``root``/{commonvoice,fleurs,covost2}; CoVoST's clips are those of the Common Voice fixture."""
    root = Path(root)
    cv = make_commonvoice(root / "commonvoice", ("de", "zh-CN", "en"))
    fl = make_fleurs(root / "fleurs", ("de_de", "cmn_hans_cn", "en_us"))
    cs = make_covost2(root / "covost2", cv, ("de_en", "zh-CN_en"))
    return AllCorpora(cv, fl, cs)
