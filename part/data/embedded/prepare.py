"""Stage 1 of ``egs/mini_multilingual``: make the embedded corpus (text, speech, Kaldi data dirs).

Usage (run from the recipe directory; ``local/data.sh`` does it)::

    python -m part.data.embedded.prepare [--out .] [--size tiny|default|large] \\
        [--langs en,de,fr,es,zh,ja] [--seed 1] [--nj 2] [--force]

Writes, below ``--out`` (paths inside the files are relative to it, see docs/contracts.md):

- ``data/{train,dev,test}/``: ``wav.scp text utt2spk spk2utt utt2lang utt2dur`` and translation
  references ``text.en`` (every non-English utterance) and ``text.<l>`` (English utterances, one file
  per other language). Utterance ids are ``<lang>-<voice variant>-<tuple id>`` (speaker
  ``<lang>-<voice variant>``); the same tuple id is the same sentence in every language.
- ``data/test_noise/`` (unless ``--num_noise 0``): noise-only clips, ``--num_noise`` per language, ids
  ``<lang>-noise-<tuple id>``, transcript ``[noise]`` (empty once normalised for scoring), no
  translations: they are decoded as ASR in their language, to count how often a model writes text
  when nobody speaks. A test set of their own, so that they cannot change the scores of the speech.
- ``data/lm_text/{train,dev}.jsonl``: text-only parallel tuples for pretraining the in-recipe LLM, one
  JSON object per line, ``{"id": ..., "en": ..., "de": ..., ...}``; from training tuples only.
- ``downloads/embedded/wav/<set>/<utt>.wav``: 16 kHz mono 16-bit speech;
  ``downloads/embedded/manifest.jsonl``: every utterance with what espeak-ng read and its voice.
- ``data/.embedded.done``: the options of the finished run. A re-run with the same options (and the
  same corpus code) returns at once; with other options it says what changed and makes the corpus
  again, keeping every WAV that would come out the same.

Sizes (utterances per language train/dev/test, text tuples lm_train/lm_dev, noise-only clips per
language): tiny 12/4/4, 200/20, 2; default 1500/30/300, 20000/500, 10; large 4000/50/300, 60000/1000, 10.
``--num_*`` overrides one of them.

The last line on stdout names the test sets made (``test_sets: test test_noise``): recipe stage 1
records them.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import time
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from part.data.corpora.errors import CorpusError
from part.data.datadir import DataDirError, DataDirWriter, sort_key
from part.data.embedded.corpus import NOISE_SPLIT, SIZES, Corpus, SizeSpec, build_corpus, parse_langs
from part.data.embedded.lang import SUPPORTED_LANGS
from part.data.embedded.synth import (SpeechPlan, SynthesisError, check_espeak, plan_noise_clip, plan_utterance,
                                      synthesise)
from part.fileio import atomic_write_lines, is_temporary

logger = logging.getLogger("part.data.embedded")

SPLITS = ("train", "dev", "test", NOISE_SPLIT)
MARKER = "data/.embedded.done"
WAV_ROOT = "downloads/embedded/wav"
MANIFEST = "downloads/embedded/manifest.jsonl"
REQUIRED = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2lang")


def code_fingerprint() -> str:
    """A hash of the corpus code: a change of lexicon, frames or synthesis makes a new corpus."""
    root = Path(__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def resolve_size(size: str, overrides: Dict[str, Optional[int]]) -> SizeSpec:
    spec = SIZES[size]
    changes = {k: v for k, v in overrides.items() if v is not None}
    return replace(spec, **changes) if changes else spec


def run_options(size: str, spec: SizeSpec, langs: Sequence[str], seed: int) -> dict:
    """What decides the output (``--nj`` does not)."""
    return {"size": size, **asdict(spec), "langs": list(langs), "seed": seed, "code": code_fingerprint()}


def made_splits(options: dict) -> List[str]:
    """The data dirs a run with ``options`` makes (no ``test_noise`` without noise-only clips)."""
    return [split for split in SPLITS if split != NOISE_SPLIT or options.get("noise", 0) > 0]


def test_sets(options: dict) -> List[str]:
    return [split for split in made_splits(options) if split.startswith("test")]


# ---- files ----------------------------------------------------------------------------------------
def plan(corpus: Corpus) -> Dict[str, List[SpeechPlan]]:
    """Every utterance of every split, sorted by utterance id."""
    out = {}
    for split, per_lang in corpus.speech_sets().items():
        make = plan_noise_clip if split == NOISE_SPLIT else plan_utterance
        utts = [make(t.sentences[lang], split, t.id, corpus.seed) for lang, tuples in per_lang.items() for t in tuples]
        out[split] = sorted(utts, key=lambda u: sort_key(u.utt))
    return out


def write_split(data_dir: Path, utts: List[SpeechPlan], corpus: Corpus, seconds: Dict[str, float]) -> None:
    """The Kaldi data dir of one split, through the writer every corpus uses. Translation references:
    xx -> en for every non-English utterance (the tuple's English sentence exists even when English is
    not among --langs), en -> xx for the English ones, into every other language asked for."""
    by_id = {t.id: t for tuples in (corpus.test, corpus.dev, corpus.lm_train) for t in tuples}
    with DataDirWriter(data_dir) as writer:
        for u in utts:
            targets = ["en"] if u.lang != "en" else [lang for lang in corpus.langs if lang != "en"]
            if not u.speech:
                targets = []
            writer.add(u.record(seconds[u.utt], {tgt: by_id[u.tuple_id].text(tgt) for tgt in targets}))


def write_lm_text(lm_dir: Path, corpus: Corpus) -> None:
    for name, tuples in (("train", corpus.lm_train), ("dev", corpus.lm_dev)):
        atomic_write_lines(lm_dir / f"{name}.jsonl",
                           (json.dumps(t.as_json(corpus.langs), ensure_ascii=False) for t in tuples))


def remove_stale_wavs(out: Path, planned: Dict[str, List[SpeechPlan]]) -> int:
    """Delete WAVs (and leftover temporary files) of earlier runs that the corpus no longer has."""
    keep = {out / u.wav for utts in planned.values() for u in utts}
    removed = 0
    wav_root = out / WAV_ROOT
    if not wav_root.is_dir():
        return 0
    for path in wav_root.rglob("*"):
        if path.is_file() and (is_temporary(path) or (path.suffix == ".wav" and path not in keep)):
            path.unlink()
            removed += 1
    return removed


def is_done(out: Path, options: dict) -> Optional[str]:
    """``None`` if the last finished run had these options and its outputs are there, else why not."""
    marker = out / MARKER
    if not marker.is_file():
        return "no finished run"
    try:
        previous = json.loads(marker.read_text(encoding="utf-8"))["options"]
    except (ValueError, KeyError):
        return f"unreadable {MARKER}"
    if previous != options:
        changed = [f"{k}: {previous.get(k)} -> {options.get(k)}" for k in options if previous.get(k) != options.get(k)]
        return "options changed since the last run (" + "; ".join(changed) + ")"
    for split in made_splits(options):
        for name in REQUIRED:
            if not (out / "data" / split / name).is_file():
                return f"data/{split}/{name} is missing"
        with open(out / "data" / split / "wav.scp", encoding="utf-8") as f:
            for line in f:
                wav = line.split(maxsplit=1)[1].strip()
                if not (out / wav).is_file():
                    return f"{wav} is missing"
    for name in ("train", "dev"):
        if not (out / "data" / "lm_text" / f"{name}.jsonl").is_file():
            return f"data/lm_text/{name}.jsonl is missing"
    return None


# ---- the stage ------------------------------------------------------------------------------------
def prepare(out: Path, size: str = "default", langs: Sequence[str] = SUPPORTED_LANGS, seed: int = 1, nj: int = 2,
            force: bool = False, overrides: Optional[Dict[str, Optional[int]]] = None,
            progress: bool = True) -> dict:
    """Make the corpus under ``out`` (see the module doc). Returns a summary dict (``skipped_stage``
    True when a finished run with the same options was found)."""
    out = Path(out)
    langs = parse_langs(langs)
    if size not in SIZES:
        raise CorpusError(f"unknown size '{size}'; choose one of {' '.join(SIZES)}")
    spec = resolve_size(size, overrides or {})
    options = run_options(size, spec, langs, seed)
    why = "--force given" if force else is_done(out, options)
    if why is None:
        logger.info(f"embedded corpus already made with these options ({out / MARKER}); nothing to do "
                    "(--force remakes it)")
        return {"skipped_stage": True, "options": options}
    logger.info(f"making the embedded corpus in {out}: {why}")
    (out / MARKER).unlink(missing_ok=True)  # an interrupted run must not look finished
    start = time.time()

    corpus = build_corpus(seed, langs, spec, progress=progress)
    planned = plan(corpus)
    check_espeak(langs)
    removed = remove_stale_wavs(out, planned)
    if removed:
        logger.info(f"removed {removed} WAV files of an earlier corpus")
    synth_start = time.time()
    seconds, kept = synthesise([u for utts in planned.values() for u in utts], out, nj=nj, desc="speech",
                               progress=progress)
    synth_wall = time.time() - synth_start

    for split in SPLITS:
        if split in planned:
            write_split(out / "data" / split, planned[split], corpus, seconds)
        else:  # a test set of an earlier run with other options
            shutil.rmtree(out / "data" / split, ignore_errors=True)
    write_lm_text(out / "data" / "lm_text", corpus)
    atomic_write_lines(out / MANIFEST, (json.dumps(u.as_json(), ensure_ascii=False)
                                        for utts in planned.values() for u in utts))

    summary = summarise(corpus, planned, seconds)
    made_seconds = sum(s for utt, s in seconds.items() if utt not in kept)
    summary.update(skipped_stage=False, skipped_wavs=len(kept), made_wavs=len(seconds) - len(kept),
                   synthesis_wall_s=round(synth_wall, 2), wall_s=round(time.time() - start, 2), nj=nj,
                   made_audio_s=round(made_seconds, 1),
                   realtime_factor=round(made_seconds / synth_wall, 1) if synth_wall > 0 and made_seconds else None)
    atomic_write_lines(out / MARKER, [json.dumps({"options": options, "summary": summary}, ensure_ascii=False,
                                                 indent=1)])
    return {**summary, "options": options}


def summarise(corpus: Corpus, planned: Dict[str, List[SpeechPlan]], seconds: Dict[str, float]) -> dict:
    table = {}
    for split, utts in planned.items():
        per_lang = defaultdict(lambda: {"utts": 0, "hours": 0.0, "speakers": set()})
        for u in utts:
            row = per_lang[u.lang]
            row["utts"] += 1
            row["hours"] += seconds[u.utt] / 3600
            row["speakers"].add(u.spk)
        table[split] = {lang: {"utts": r["utts"], "hours": round(r["hours"], 3), "speakers": len(r["speakers"])}
                        for lang, r in sorted(per_lang.items(), key=lambda kv: corpus.langs.index(kv[0]))}
    return {"sets": table, "lm_text": {"train": len(corpus.lm_train), "dev": len(corpus.lm_dev)},
            "audio_hours": round(sum(seconds.values()) / 3600, 3)}


def format_summary(summary: dict) -> str:
    lines = []
    for split, per_lang in summary["sets"].items():
        cells = ", ".join(f"{lang} {r['utts']} ({r['hours'] * 60:.1f} min, {r['speakers']} spk)"
                          for lang, r in per_lang.items())
        lines.append(f"  {split:5s}: {cells}")
    lm = summary["lm_text"]
    lines.append(f"  lm_text: train {lm['train']} tuples, dev {lm['dev']} tuples")
    speed = f", {summary['realtime_factor']}x real time" if summary["realtime_factor"] else ""
    lines.append(f"  audio: {summary['audio_hours']:.2f} h; {summary['made_wavs']} WAVs made, "
                 f"{summary['skipped_wavs']} kept; synthesis {summary['synthesis_wall_s']:.1f} s on {summary['nj']} "
                 f"jobs{speed}; stage {summary['wall_s']:.1f} s")
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m part.data.embedded.prepare",
        description="Make the embedded multilingual corpus: parallel text from the project's own grammar, "
                    "espeak-ng speech, Kaldi data dirs and the text corpus of the in-recipe LLM.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", default=".", help="recipe directory to write data/ and downloads/ into")
    parser.add_argument("--size", default="default", choices=sorted(SIZES),
                        help="tiny 12/4/4 utterances per language (CI), default 1500/30/300, large 4000/50/300")
    parser.add_argument("--langs", default=",".join(SUPPORTED_LANGS),
                        help=f"languages, comma or space separated, of: {' '.join(SUPPORTED_LANGS)}")
    parser.add_argument("--seed", type=int, default=1, help="seed of the text and of every voice and noise draw")
    parser.add_argument("--nj", type=int, default=2, help="parallel synthesis processes")
    parser.add_argument("--force", action="store_true", help="remake even if a finished run has these options")
    for name, what in (("train", "training utterances per language"), ("dev", "dev utterances per language"),
                       ("test", "test utterances per language"), ("lm_train", "text-only training tuples"),
                       ("lm_dev", "text-only dev tuples"), ("noise", "noise-only test clips per language")):
        parser.add_argument(f"--num_{name}", type=int, default=None, help=f"override the size's {what}")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (embedded) %(levelname)s: %(message)s",
                        stream=sys.stderr)
    overrides = {name: getattr(args, f"num_{name}") for name in ("train", "dev", "test", "lm_train", "lm_dev", "noise")}
    try:
        summary = prepare(Path(args.out), args.size, args.langs, args.seed, max(1, args.nj), args.force, overrides,
                          progress=not args.no_progress)
    except (CorpusError, DataDirError, SynthesisError) as err:
        logger.error(str(err))
        return 1
    except KeyboardInterrupt:
        logger.error("interrupted; a re-run continues where this one stopped")
        return 130
    if not summary["skipped_stage"]:
        logger.info("embedded corpus done:\n" + format_summary(summary))
    print("test_sets: " + " ".join(test_sets(summary["options"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
