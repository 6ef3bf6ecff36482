"""Transcribe (ASR) or translate (S2TT) audio files with an exported model (python -m part.bin.export).

Inputs, any mix of:
  - audio files in any format libsndfile reads (wav, flac, mp3, ogg/opus, ...); others (m4a, aac,
    webm, ...) through ffmpeg when it is installed
  - folders: every audio file below them (recursively), ids are the paths relative to the folder
  - a Kaldi wav.scp (``id path`` or ``id command |`` per line; relative paths from the current directory,
    else from the list's folder)
  - a .tsv list: ``id<TAB>path`` lines, or a header line naming a ``path`` column (and an ``id`` column)

Audio at any sample rate from 8 kHz up is resampled to the model's rate; of several channels the first
is used (as training reads its corpora). Long recordings are cut into segments — by energy-based voice
activity detection (``--segment vad``: pauses of at least --vad_min_silence split, nothing longer than
--max_segment) or into fixed windows of --max_segment seconds overlapping by --overlap (``--segment
fixed``: the repeated words of an overlap are dropped from the later window's text) — and the
segments of all inputs are decoded in batches with the model's own prompt templates and front end.

Outputs (--output FILE, default stdout):
  text   one line per input: the text of its segments
  jsonl  one JSON object per segment: id, segment (its index), start, end (seconds), text,
         decode_seconds, rtf (decode seconds / segment duration); an input without speech gets one line
         with an empty text and a "warning", an input that cannot be read one with an "error"
  srt    subtitles, one cue per segment; with several inputs --output is a folder of <id>.srt files

A file that cannot be read (missing, corrupt, a sample rate below 8 kHz) is reported and skipped; the
others are still transcribed, and the exit status is 1. A file without speech gets an empty line (no
cue) and a warning.

Examples:
    python -m part.bin.transcribe models/part-mini meeting.flac --task asr --lang de
    python -m part.bin.transcribe models/part-mini talks/ --task s2tt --lang de --tgt en --format srt \\
        --output subtitles/
    python -m part.bin.transcribe models/part-mini data/test/wav.scp --task asr --lang fr --format jsonl \\
        --output hyps.jsonl --batch_size 16 --segment fixed --max_segment 15 --overlap 2
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from typing import Callable, List, Optional, Tuple

import numpy as np

from part.cli import str2bool
from part.data.audio import AudioError
from part.data.segment import Segment, VadOptions, fixed_segments, has_speech, vad_segments
from part.transcription.inputs import list_inputs, load_recording
from part.transcription.outputs import Recording, Writer

LOOKAHEAD_BATCHES = 4  # segments gathered before decoding, sorted by length so that batches pad little

logger = logging.getLogger("transcribe")


class BatchDecoder:
    """Gathers segments of any recording and decodes them in length-sorted batches; ``progress(n)`` is
    called with the number of segments of each decoded batch."""

    def __init__(self, s2t, prompt: str, batch_size: int, progress: Callable[[int], object] = lambda n: None):
        self.s2t, self.prompt, self.batch_size, self.progress = s2t, prompt, batch_size, progress
        self.queue: List[Tuple[Recording, int, np.ndarray]] = []

    def add(self, rec: Recording, index: int, samples: np.ndarray) -> None:
        t0 = time.perf_counter()
        feats = self.s2t.features(samples, self.s2t.feature_options.sample_rate)
        rec.seconds[index] += time.perf_counter() - t0
        self.queue.append((rec, index, feats))
        if len(self.queue) >= self.batch_size * LOOKAHEAD_BATCHES:
            self.flush()

    def flush(self) -> None:
        queue = sorted(self.queue, key=lambda item: -item[2].shape[0])
        self.queue = []
        for i in range(0, len(queue), self.batch_size):
            batch = queue[i: i + self.batch_size]
            t0 = time.perf_counter()
            texts = self.s2t.decode_features([f for _, _, f in batch], [self.prompt] * len(batch))
            elapsed = time.perf_counter() - t0
            frames = sum(f.shape[0] for _, _, f in batch)
            for (rec, index, feats), text in zip(batch, texts):
                rec.texts[index] = text
                rec.seconds[index] += elapsed * feats.shape[0] / frames  # the batch's time, shared by length
            self.progress(len(batch))


def segment_recording(samples: np.ndarray, rate: int, min_samples: int, args: argparse.Namespace) -> List[Segment]:
    """The segments to decode (none for a recording without speech); shorter than ``min_samples`` (one
    feature frame) are left out."""
    opts = VadOptions(threshold_db=args.vad_threshold_db, margin_db=args.vad_margin_db,
                      min_silence=args.vad_min_silence, min_speech=args.vad_min_speech, pad=args.vad_pad,
                      max_segment=args.max_segment)
    if args.segment == "fixed":
        segments = fixed_segments(len(samples), rate, args.max_segment, args.overlap) \
            if has_speech(samples, rate, opts) else []
    else:
        segments = vad_segments(samples, rate, opts)
    return [s for s in segments if s.stop - s.begin >= min_samples]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    from part.inference import add_decode_arguments

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="An exported model folder (python -m part.bin.export)")
    parser.add_argument("inputs", nargs="+", help="Audio files, folders, wav.scp or .tsv lists")
    parser.add_argument("--task", choices=("asr", "s2tt"), default="asr",
                        help="asr: transcribe in the spoken language; s2tt: translate into --tgt")
    parser.add_argument("--lang", required=True, help="The spoken language (ISO code: en, de, zh, ...)")
    parser.add_argument("--tgt", default=None, help="Target language of --task s2tt")
    parser.add_argument("--allow_untrained_language", action="store_true",
                        help="Decode a language (direction) the model was not trained on, with a warning")
    parser.add_argument("--format", choices=("text", "jsonl", "srt"), default="text", help="Output format")
    parser.add_argument("--output", default=None,
                        help="Output file (default: stdout); a folder for --format srt with several inputs")
    parser.add_argument("--batch_size", type=int, default=8, help="Segments decoded together")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N]")
    parser.add_argument("--threads", type=int, default=0, help="Torch CPU threads (0: torch's default)")
    parser.add_argument("--progress", type=str2bool, default=True,
                        help="Show a progress bar on stderr (true|false)")
    group = parser.add_argument_group("segmentation")
    group.add_argument("--segment", choices=("vad", "fixed"), default="vad",
                       help="vad: cut at pauses (energy-based voice activity detection); fixed: windows of "
                            "--max_segment seconds overlapping by --overlap")
    group.add_argument("--max_segment", type=float, default=20.0,
                       help="Longest segment in seconds (vad cuts longer speech at its quietest point; fixed: the "
                            "window length); at most what the encoder accepts")
    group.add_argument("--overlap", type=float, default=2.0, help="Overlap of fixed windows, seconds")
    defaults = VadOptions()
    group.add_argument("--vad_threshold_db", type=float, default=defaults.threshold_db,
                       help="Speech is within this many dB of the recording's level (99th percentile frame energy)")
    group.add_argument("--vad_margin_db", type=float, default=defaults.margin_db,
                       help="... and this many dB above its floor (10th percentile)")
    group.add_argument("--vad_min_silence", type=float, default=defaults.min_silence,
                       help="Seconds of pause that split segments")
    group.add_argument("--vad_min_speech", type=float, default=defaults.min_speech,
                       help="Shorter bursts (seconds) are not speech")
    group.add_argument("--vad_pad", type=float, default=defaults.pad, help="Seconds of context kept around a segment")
    add_decode_arguments(parser, None, "default: the model's, from its config.json")
    args = parser.parse_args(argv)
    if args.task == "s2tt" and not args.tgt:
        parser.error("--task s2tt needs --tgt, the language to translate into (e.g. --tgt en)")
    if args.task == "asr" and args.tgt and args.tgt != args.lang:
        parser.error(f"--tgt {args.tgt} is for --task s2tt; ASR transcribes in the spoken language --lang")
    if args.batch_size < 1 or args.max_segment <= 0:
        parser.error("--batch_size and --max_segment must be positive")
    if args.segment == "fixed" and not 0 <= args.overlap < args.max_segment:
        parser.error("--overlap must be at least 0 and shorter than --max_segment")
    return args


def check_language(s2t, args: argparse.Namespace) -> Tuple[str, str]:
    """The canonical (src, tgt) codes; an unknown code or one the model was not trained on is refused."""
    from part.data.languages import canonical_code

    try:
        src = canonical_code(args.lang)
        tgt = canonical_code(args.tgt) if args.task == "s2tt" else src
    except KeyError as err:
        raise SystemExit(f"transcribe: {err.args[0]}")
    trained = s2t.languages(args.task)
    wanted = src if args.task == "asr" else f"{src}-{tgt}"
    if trained is None:
        logger.warning("the model does not record the languages it was trained on: decoding %s anyway", wanted)
    elif wanted not in trained:
        what = "language" if args.task == "asr" else "direction"
        message = (f"the model was not trained on {args.task} {what} '{wanted}'; it knows: {', '.join(trained)}")
        if not args.allow_untrained_language:
            raise SystemExit(f"transcribe: {message} (--allow_untrained_language to try anyway)")
        logger.warning("%s: decoding anyway", message)
    if args.task not in s2t.prompts:
        raise SystemExit(f"transcribe: the model has no '{args.task}' prompt template (config.json: prompts)")
    return src, tgt


def encoder_limit_seconds(s2t) -> float:
    """The longest input the encoder takes (Whisper's fixed window), in seconds; infinite for others."""
    window = getattr(s2t.model.encoder, "window", None)
    return window * s2t.feature_options.frame_shift / 1000 if window else math.inf


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (transcribe) %(levelname)s: %(message)s")
    import torch
    import transformers
    from tqdm import tqdm

    from part.data.languages import is_cjk
    from part.data.prompts import render
    from part.export import ExportError
    from part.inference import SpeechToText, decode_options_from_args

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.disable_progress_bar()
    try:
        s2t = SpeechToText.from_pretrained(args.model_dir, device=args.device, **decode_options_from_args(args))
    except (ExportError, FileNotFoundError) as err:
        sys.exit(f"transcribe: {err}")
    src, tgt = check_language(s2t, args)
    limit = encoder_limit_seconds(s2t)
    if args.max_segment > limit:
        logger.info("--max_segment %.1f s is longer than the encoder's window: using %.1f s", args.max_segment, limit)
        args.max_segment = limit
        args.overlap = min(args.overlap, limit / 2)
    rate = s2t.feature_options.sample_rate
    inputs = list_inputs(args.inputs)
    prompt = render(s2t.prompts[args.task], src, tgt)
    stitch = args.segment == "fixed" and args.overlap > 0
    try:
        writer = Writer(args.format, args.output, len(inputs), "" if is_cjk(tgt) else " ", stitch)
    except ValueError as err:
        sys.exit(f"transcribe: {err}")
    pending: List[Recording] = []
    failed, silent, audio_seconds, t_start = [], [], 0.0, time.perf_counter()

    def write_finished() -> None:
        while pending and pending[0].done:
            writer.write(pending.pop(0))

    # The bar counts decoded segments (a long recording moves it too); its total grows as inputs are cut.
    with tqdm(total=0, unit="segment", disable=not args.progress, file=sys.stderr) as bar:
        decoder = BatchDecoder(s2t, prompt, args.batch_size, bar.update)
        for number, inp in enumerate(inputs, 1):
            bar.set_description(f"input {number}/{len(inputs)}")
            rec = Recording(inp)
            pending.append(rec)
            try:
                if inp.error:
                    raise AudioError(inp.error)
                samples = load_recording(inp, rate)
            except AudioError as err:
                rec.error = err.problem + (f"; {err.fix}" if err.fix else "")
                failed.append(rec)
                tqdm.write(f"transcribe: ERROR: {inp.where}: {rec.error}", file=sys.stderr)
                continue
            rec.duration = len(samples) / rate
            audio_seconds += rec.duration
            rec.segments = segment_recording(samples, rate, s2t.feature_options.window_samples, args)
            if not rec.segments:
                rec.warning = "no speech found"
                silent.append(rec)
                tqdm.write(f"transcribe: WARNING: {inp.where}: no speech found ({rec.duration:.1f} s of silence or "
                           "steady noise): empty output", file=sys.stderr)
            rec.texts = [None] * len(rec.segments)
            rec.seconds = [0.0] * len(rec.segments)
            bar.total += len(rec.segments)
            bar.refresh()
            for k, seg in enumerate(rec.segments):
                decoder.add(rec, k, samples[seg.begin: seg.stop])
            write_finished()
        decoder.flush()
        write_finished()
    writer.close()
    elapsed = time.perf_counter() - t_start
    done = len(inputs) - len(failed)
    print(f"transcribe: {done} of {len(inputs)} input(s) transcribed ({audio_seconds:.1f} s of audio in "
          f"{elapsed:.1f} s, real-time factor {elapsed / max(audio_seconds, 1e-9):.3f})"
          + (f"; {len(silent)} without speech" if silent else "")
          + (f"; {len(failed)} failed: {', '.join(r.input.id for r in failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
