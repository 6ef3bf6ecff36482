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
segment text as released (whitespace runs made one space).

Output (``--out_dir``): ``wenetspeech_<name>`` for each subset asked for, with name train_l, train_m,
train_s, train_w, dev, test_net, test_meeting.

Usage::

    python -m part.data.corpora.wenetspeech --root /data/WenetSpeech --subsets M,DEV,TEST_NET,TEST_MEETING \\
        --out_dir data/local/wenetspeech
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from part.data.corpora.base import (
    CorpusError,
    CorpusLayoutError,
    PathLike,
    PrepResult,
    Segment,
    Skips,
    Utterance,
    add_common_arguments,
    clean_text,
    run_main,
    split_list,
    write_utterances,
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
STRICT_REASONS = ("missing audio", "unreadable audio", "bad segment")
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


def load_manifest(manifest: Path) -> List[dict]:
    try:
        with open(manifest, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise CorpusError(f"{manifest}:{err.lineno}: not valid JSON ({err.msg}); is the download complete?") from None
    audios = data.get("audios") if isinstance(data, dict) else None
    if not isinstance(audios, list):
        raise CorpusError(f"{manifest}: no 'audios' list at the top level; is this WenetSpeech.json?")
    return audios


def _seconds(value, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is not a finite number")
    return number


def read_subsets(root: PathLike, labels: Sequence[str], builder: WavScpBuilder,
                 skips: Skips) -> Dict[str, List[Utterance]]:
    """``{label: utterances}`` for the subset labels asked for (``L``, ``DEV``, ...)."""
    manifest = check_layout(root)
    root = manifest.parent
    wanted = [subset_label(label) for label in labels]
    unknown = [label for label in wanted if label not in SUBSETS]
    if unknown:
        raise CorpusError(f"unknown WenetSpeech subset(s) {', '.join(unknown)}; known: {', '.join(SUBSETS)}")
    found: Dict[str, List[Utterance]] = {label: [] for label in wanted}
    for number, audio in enumerate(load_manifest(manifest), start=1):
        where = f"{manifest} audios[{number - 1}]"
        try:
            aid, rel_path, segments = str(audio["aid"]), str(audio["path"]), audio["segments"]
        except (KeyError, TypeError):
            skips.add("malformed entry", where, str(audio.get("aid", "")) if isinstance(audio, dict) else "",
                      "needs aid, path and segments")
            continue
        duration = audio.get("duration")
        chosen = []
        for seg in segments:
            try:
                labels_of_seg = {subset_label(s) for s in seg.get("subsets", [])}
                if labels_of_seg.isdisjoint(wanted):
                    continue
                sid = str(seg["sid"])
                start = _seconds(seg["begin_time"], "begin_time")
                end = _seconds(seg["end_time"], "end_time")
                text = clean_text(str(seg["text"]))
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                skips.add("bad segment", where, str(seg.get("sid", "")) if isinstance(seg, dict) else "",
                          f"cannot read sid/begin_time/end_time/text/subsets ({err})")
                continue
            if start < 0 or end <= start or (duration is not None and start >= float(duration)):
                skips.add("bad segment", where, sid, f"times {start}-{end} s in a recording of {duration} s")
                continue
            if not text:
                skips.add("empty text", where, sid)
                continue
            chosen.append((sid, start, end, text, labels_of_seg))
        if not chosen:
            continue
        audio_path = root / rel_path
        if not audio_path.is_file():
            for sid, *_ in chosen:
                skips.add("missing audio", where, sid, f"{audio_path} does not exist")
            continue
        try:
            wav = builder.entry(audio_path)
        except UnreadableAudio as err:
            for sid, *_ in chosen:
                skips.add("unreadable audio", where, sid, f"{audio_path}: {err}")
            continue
        for sid, start, end, text, labels_of_seg in chosen:
            utt_id = sid if sid.startswith(aid) else f"{aid}-{sid}"
            utt = Utterance(utt_id, aid, LANG, text, wav, Segment(aid, start, end))
            for label in wanted:
                if label in labels_of_seg:
                    found[label].append(utt)
    return found


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
    skips = Skips()
    found = read_subsets(root, subsets, WavScpBuilder(audio_format), skips)
    skips.report("wenetspeech", STRICT_REASONS, strict, ADVICE)
    result = PrepResult(skips=skips)
    for label, utts in found.items():
        name = SUBSETS[label]
        if not utts:
            logger.warning(f"wenetspeech: no segment of subset {label} left; {CORPUS}_{name} is not written")
            continue
        path = write_utterances(Path(out_dir) / f"{CORPUS}_{name}", utts)
        result.combined[name] = path
        logger.info(f"wrote {path}: {len(utts)} segments")
    return result


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.corpora.wenetspeech",
        description="Kaldi data dirs (with segments) from WenetSpeech: <out_dir>/wenetspeech_<subset>.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root", required=True, help=f"folder holding {MANIFEST} and audio/")
    parser.add_argument("--subsets", default="M,DEV,TEST_NET,TEST_MEETING",
                        help=f"subset labels, comma separated ({', '.join(SUBSETS)})")
    parser.add_argument("--out_dir", required=True, help="where the data dirs are written")
    add_common_arguments(parser)
    parser.set_defaults(audio_format="path")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    return run_main(lambda a: prepare(a.root, split_list(a.subsets), a.out_dir, a.audio_format, a.strict), args)


if __name__ == "__main__":
    raise SystemExit(main())
