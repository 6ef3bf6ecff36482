"""WenetSpeech (10k+ hours of Mandarin from YouTube and podcasts): Kaldi data dirs with segments.

Release layout (after the official download script has untarred it)::

    <root>/WenetSpeech.json
    <root>/audio/{train,dev,test_net,test_meeting}/.../<aid>.opus     16 kHz Ogg/Opus, long recordings

``WenetSpeech.json`` holds ``{"audios": [...]}``; each audio has ``aid``, ``path`` (relative to the JSON's
folder), ``duration`` (s) and ``segments``, each with ``sid``, ``begin_time``, ``end_time`` (s), ``text``,
``confidence`` and ``subsets``, the labels of the sets the segment belongs to: ``L``, ``M``, ``S``
(nested training sets of 10000, 1000 and 100 hours), ``W`` (weakly labelled), ``DEV``, ``TEST_NET``,
``TEST_MEETING``. The labels are plain (``"L"``) in the release; the brace form (``"{L}"``) of
GigaSpeech-style manifests is accepted too.

Data dirs have a ``segments`` file; ``wav.scp`` is keyed by recording (``aid``) and names the opus file
itself (soundfile reads Ogg/Opus at 16 kHz and seeks in it). Utterance id = ``sid`` (which starts with
the ``aid``); speaker = the recording (WenetSpeech has no speaker labels); language ``zh``; text = the
segment text as released (U+3000 and other Unicode spaces kept; tabs and line breaks become spaces).

The JSON is parsed incrementally (ijson): one audio entry at a time is in memory, whatever the size of
the file (WenetSpeech.json of the release is tens of GB as Python objects). Skipped with a warning that
names the entry by its JSON path (``WenetSpeech.json audios[12].segments[3]``), never fatal to the
corpus: a repeated ``sid`` (the first is kept), a segment that is empty, reversed or starts before 0, a
segment that ends past the end of its recording (more than ``SEGMENT_END_TOLERANCE_S``; the duration
comes from the entry's ``duration``, or from the audio's header when the entry has none: cutting the
audio there would keep a transcript of speech that is not in it), empty text, ids that cannot be part
of a Kaldi id (spaces, control characters), entries without ``aid``/``path``/``segments``, and
segments whose audio is missing or unreadable (with ``--strict``, missing or unreadable audio and bad
segments are errors).

Output (``--out_dir``): ``wenetspeech_<name>`` for each subset asked for, with name train_l, train_m,
train_s, train_w, dev, test_net, test_meeting.

Usage::

    python -m part.data.corpora.wenetspeech --root /data/WenetSpeech --subsets M,DEV,TEST_NET,TEST_MEETING \\
        --out_dir data/local/wenetspeech
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import logging
import math
from pathlib import Path
from typing import Iterator, Optional, Sequence, Set, Tuple

import soundfile

from part.data.corpora.base import (
    CorpusError,
    CorpusLayoutError,
    PathLike,
    PrepResult,
    Segment,
    Skips,
    Utterance,
    add_common_arguments,
    add_output_arguments,
    corpus_parser,
    corpus_writer,
    ids_problem,
    kaldi_value,
    run_main,
    split_list,
)
from part.data.corpora.wavscp import UnreadableAudio, WavScpBuilder

logger = logging.getLogger("part.data.corpora.wenetspeech")

CORPUS = "wenetspeech"
LANG = "zh"
MANIFEST = "WenetSpeech.json"
SUBSETS = {
    "L": "train_l",
    "M": "train_m",
    "S": "train_s",
    "W": "train_w",
    "DEV": "dev",
    "TEST_NET": "test_net",
    "TEST_MEETING": "test_meeting",
}
STRICT_REASONS = ("missing audio", "unreadable audio", "bad segment", "segment past the end")
ADVICE = {"missing audio": "Untar the audio of the release"}


def subset_label(label: str) -> str:
    """``"{L}"``, ``"l"``, ``"L"`` -> ``"L"``."""
    return label.strip().strip("{}").upper()


def check_layout(root: PathLike) -> Path:
    """The path of ``WenetSpeech.json`` below ``root``, or a :class:`CorpusLayoutError`."""
    root = Path(root)
    if not str(root) or not root.is_dir():
        raise CorpusLayoutError(f"the WenetSpeech root '{root}' is not a directory; it must hold {MANIFEST} "
                                "and audio/")
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise CorpusLayoutError(f"no {manifest}; the WenetSpeech root must hold {MANIFEST} and audio/ "
                                "(as untarred by the official download script)")
    return manifest


def iter_audios(manifest: Path) -> Iterator[Tuple[int, object]]:
    """``(index, entry)`` of every item of the top-level ``audios`` list, parsed incrementally."""
    import ijson

    count = -1
    with open(manifest, "rb") as handle:
        if handle.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            handle.seek(0)
        try:
            for count, audio in enumerate(ijson.items(handle, "audios.item", use_float=True)):
                yield count, audio
        except ijson.JSONError as err:
            after = f" after audios[{count}]" if count >= 0 else ""
            raise CorpusError(f"{manifest}: not valid JSON{after} ({str(err).splitlines()[0]}); is the download "
                              "complete?") from None
    if count < 0:
        raise CorpusError(f"{manifest}: no 'audios' list at the top level, or an empty one; is this WenetSpeech.json?")


def _seconds(value, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is not a finite number")
    return number


def _recording_duration(audio: dict, audio_path: Path) -> Optional[float]:
    """The recording's length from the index entry, else from the audio's header (cheap: no decoding)."""
    try:
        return _seconds(audio["duration"], "duration")
    except (KeyError, TypeError, ValueError):
        pass
    try:
        return float(soundfile.info(str(audio_path)).duration)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None


def iter_segments(root: PathLike, labels: Sequence[str], builder: WavScpBuilder,
                  skips: Skips) -> Iterator[Tuple[Utterance, Set[str], str]]:
    """``(utterance, its subset labels, JSON path)`` of the segments in any of ``labels`` (``L``, ``DEV``, ...)."""
    manifest = check_layout(root)
    root = manifest.parent
    wanted = [subset_label(label) for label in labels]
    unknown = [label for label in wanted if label not in SUBSETS]
    if unknown:
        raise CorpusError(f"unknown WenetSpeech subset(s) {', '.join(unknown)}; known: {', '.join(SUBSETS)}")
    for index, audio in iter_audios(manifest):
        where = f"{manifest} audios[{index}]"
        try:
            aid, rel_path, segments = str(audio["aid"]), str(audio["path"]), list(audio["segments"])
        except (KeyError, TypeError):
            skips.add("malformed entry", where, str(audio.get("aid", "")) if isinstance(audio, dict) else "",
                      "needs aid, path and segments")
            continue
        problem = ids_problem(aid=aid)
        if problem:
            skips.add("bad id", where, aid, problem)
            continue
        chosen = []
        for k, seg in enumerate(segments):
            seg_where = f"{where}.segments[{k}]"
            try:
                labels_of_seg = {subset_label(s) for s in seg.get("subsets", [])}
                if labels_of_seg.isdisjoint(wanted):
                    continue
                sid = str(seg["sid"])
                segment = Segment(aid, _seconds(seg["begin_time"], "begin_time"), _seconds(seg["end_time"], "end_time"))
                text = kaldi_value(seg["text"])
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                skips.add("bad segment", seg_where, str(seg.get("sid", "")) if isinstance(seg, dict) else "",
                          f"cannot read sid/begin_time/end_time/text/subsets ({err})")
                continue
            utt_id = sid if sid.startswith(aid) else f"{aid}-{sid}"
            problem = ids_problem(sid=utt_id)
            if problem:
                skips.add("bad id", seg_where, sid, problem)
                continue
            problem = segment.problem()
            if problem:
                skips.add("bad segment", seg_where, sid, problem)
                continue
            if not text:
                skips.add("empty text", seg_where, sid)
                continue
            chosen.append((Utterance(utt_id, aid, LANG, text, "", segment), labels_of_seg, seg_where))
        if not chosen:
            continue
        audio_path = root / rel_path
        if not audio_path.is_file():
            for utt, _, seg_where in chosen:
                skips.add("missing audio", seg_where, utt.utt_id, f"{audio_path} does not exist")
            continue
        try:
            wav = builder.entry(audio_path)
        except UnreadableAudio as err:
            for utt, _, seg_where in chosen:
                skips.add("unreadable audio", seg_where, utt.utt_id, f"{audio_path}: {err}")
            continue
        duration = _recording_duration(audio, audio_path)
        for utt, labels_of_seg, seg_where in chosen:
            problem = utt.segment.problem(duration)
            if problem:
                skips.add("segment past the end", seg_where, utt.utt_id, problem)
                continue
            utt.wav = wav
            yield utt, labels_of_seg, seg_where


def prepare(
    root: PathLike,
    subsets: Sequence[str],
    out_dir: PathLike,
    audio_format: str = "path",
    strict: bool = False,
) -> PrepResult:
    """Write ``wenetspeech_<name>`` data dirs (see the module docstring) below ``out_dir``.

    ``audio_format`` defaults to ``path``: the opus files are 16 kHz already, and a pipe would decode a
    whole long recording for every segment of it.
    """
    if not subsets:
        raise CorpusError("no WenetSpeech subsets given (--subsets, e.g. M,DEV,TEST_NET,TEST_MEETING)")
    wanted = list(dict.fromkeys(subset_label(label) for label in subsets))
    skips = Skips()
    repeats = {label: Skips() for label in wanted if label in SUBSETS}
    writers = {label: corpus_writer(Path(out_dir) / f"{CORPUS}_{SUBSETS[label]}", repeats[label]) for label in repeats}
    result = PrepResult(skips=skips)
    with contextlib.ExitStack() as stack:
        for writer in writers.values():
            stack.enter_context(writer)
        for utt, labels, where in iter_segments(root, wanted, WavScpBuilder(audio_format), skips):
            for label in labels.intersection(writers):
                writers[label].add(utt, where)
        skips.report("wenetspeech", STRICT_REASONS, strict, ADVICE)
        for label, writer in writers.items():
            writer.finish()  # sorts: repeated ids show here
            repeats[label].report(f"wenetspeech {SUBSETS[label]}", STRICT_REASONS, strict, ADVICE)
            skips.extend(repeats[label])
    for label, writer in writers.items():
        name = SUBSETS[label]
        if writer.summary is None:
            logger.warning(f"wenetspeech: no segment of subset {label} left; {CORPUS}_{name} is not written")
            continue
        result.combined[name] = writer.path
        logger.info(f"wrote {writer.summary.describe()}")
    return result


def get_parser() -> argparse.ArgumentParser:
    parser = corpus_parser("wenetspeech",
                           "Kaldi data dirs (with segments) from WenetSpeech: <out_dir>/wenetspeech_<subset>.")
    parser.add_argument("--root", required=True, help=f"folder holding {MANIFEST} and audio/")
    parser.add_argument("--subsets", default="M,DEV,TEST_NET,TEST_MEETING",
                        help=f"subset labels, comma separated ({', '.join(SUBSETS)})")
    add_output_arguments(parser, splits=())
    add_common_arguments(parser)
    parser.set_defaults(audio_format="path")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.root, split_list(a.subsets), a.out_dir, a.audio_format, a.strict), args)


if __name__ == "__main__":
    raise SystemExit(main())
