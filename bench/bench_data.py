"""Data at scale: does memory stay flat when the corpus grows 100x, how fast is one loader worker, and how
much padding do duration buckets save? Prints the figures; the last line is the summary.

Usage::

    tools/venv/bin/python bench/bench_data.py [--work_dir /tmp/part_bench_data] [--sizes 1000 100000]
                                              [--throughput_utts 2000] [--quick] [--json bench_data.json]

For each size in ``--sizes`` (and for the throughput corpus) it runs the real pipeline, each step in its
own subprocess so that its peak resident memory (``ru_maxrss`` from ``wait4``: the largest process, the
step's forked workers included) is its own:

1. a corpus in the generic layout (``part/data/corpora/generic.py``): ``train.tsv`` (id path text lang
   speaker translation_en) over 20 short clips (0.3-0.6 s, 16 kHz FLAC, tones and noise) repeated, so
   that 100,000 rows need only a few MB of audio files;
2. stage 1, ``python -m part.data.corpora.generic``: peak RSS;
3. stage 2, ``python -m part.bin.pack_shards --nj 2``: peak RSS and wall time (a set packed by an
   earlier run of the benchmark is skipped by pack_shards itself, and shown as ``nan``);
4. one training epoch's loading: the loader exactly as ``part_train`` builds it (``ShardIterFactory``
   over ``ExampleStream`` with the ``data_conf`` defaults: shuffle buffer 2000, 10 duration buckets,
   60 s per batch; ``BatchLoader`` with 80-bin fbank and tokenisation), ASR examples, the batches
   that hold one pass over the utterances, 2 workers: peak RSS of the main process and of the workers.

Throughput: the same loading step, 1 worker, over ``--throughput_utts`` utterances of 2-10 s (lognormal,
median 4.5 s, as in Common Voice; every clip distinct): seconds of audio per CPU second of the worker
(what a worker does on a core of its own; the wall-clock rate is printed too), with 80-bin fbank (the
summary's figure) and with 128-bin Whisper log-mel. Also the speed of replaying the
stream's metadata (``ExampleStream.skip``, what a resumed run does), on the large manifest.
Padding: the durations of that corpus in shuffled fixed-size batches (the mean size of the bucketed
batches) vs the batches of ``ExampleStream`` (5 passes), as ``sampler.padding_ratio`` counts it.

Everything is kept in ``--work_dir``; stage 1 and the loading are measured again on every run.
``--quick``: sizes 200 and 5,000, 300 throughput utterances (about a minute).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
LANGS = ["de", "en", "fr", "es", "it"]
WORDS = ("haus baum wasser stadt licht zeit weg hand kind tag nacht jahr welt wort bild land buch tisch "
         "house tree water city light time way hand child day night year world word picture land book table").split()
PROMPTS = {"asr": "<speech><|{src}|><|transcribe|>", "s2tt": "<speech><|{src}|><|translate|><|{tgt}|>",
           "mt": "{text}<|{src}|><|translate|><|{tgt}|>"}


# ---------------------------------------------------------------------------------------------- corpora
def write_clip(path: Path, seconds: float, seed: int) -> None:
    """Real-ish audio: two tones that glide a little, a slow amplitude envelope and noise (FLAC, 16 bits)."""
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    f0, f1 = rng.uniform(100, 300), rng.uniform(500, 1500)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
    samples = envelope * (0.25 * np.sin(2 * np.pi * f0 * (1 + 0.05 * t) * t) + 0.1 * np.sin(2 * np.pi * f1 * t))
    samples = samples + 0.02 * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples.astype(np.float32), 16000, format="FLAC", subtype="PCM_16")


def write_corpus(root: Path, clips: Sequence[Path], num_utts: int, seed: int = 0) -> Path:
    """``root/train.tsv`` of ``num_utts`` rows over ``clips`` (repeated in turn); languages in turn,
    an English translation for every non-English row. Returns the TSV."""
    tsv = root / "train.tsv"
    if tsv.is_file():
        return tsv
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    tmp = tsv.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("id\tpath\ttext\tlang\tspeaker\ttranslation_en\n")
        for i in range(num_utts):
            lang, speaker = LANGS[i % len(LANGS)], f"spk{i % 97:03d}"
            text = " ".join(rng.choice(WORDS, int(rng.integers(3, 12))))
            translation = "" if lang == "en" else " ".join(rng.choice(WORDS, int(rng.integers(3, 12))))
            f.write(f"{speaker}-{i:07d}\t{clips[i % len(clips)]}\t{text}\t{lang}\t{speaker}\t{translation}\n")
    os.replace(tmp, tsv)
    return tsv


def short_clips(root: Path, count: int = 20) -> List[Path]:
    rng = np.random.default_rng(1)
    clips = [root / f"short{k:02d}.flac" for k in range(count)]
    for k, clip in enumerate(clips):
        if not clip.is_file():
            write_clip(clip, float(rng.uniform(0.3, 0.6)), k)
    return clips


def throughput_clips(root: Path, count: int) -> List[Path]:
    """``count`` distinct clips with Common Voice-like durations: lognormal, median 4.5 s, within 2-10 s."""
    rng = np.random.default_rng(2)
    durations = np.clip(rng.lognormal(np.log(4.5), 0.35, count), 2.0, 10.0)
    clips = [root / f"clip{k:05d}.flac" for k in range(count)]
    for k, (clip, seconds) in enumerate(zip(clips, durations)):
        if not clip.is_file():
            write_clip(clip, float(seconds), 1000 + k)
    return clips


def write_tokenizer(out_dir: Path) -> Path:
    """A small BPE tokenizer over the corpus words (what ``BatchLoader`` tokenises prompts and targets with)."""
    from part.bin.pretrain_llm import train_tokenizer

    if not (out_dir / "tokenizer.json").is_file():
        rows = [{lang: " ".join(WORDS[k: k + 6]) for lang in LANGS} for k in range(len(WORDS))]
        out_dir.mkdir(parents=True, exist_ok=True)
        train_tokenizer(rows, LANGS, 300, out_dir)
    return out_dir


# ---------------------------------------------------------------------------------------------- measuring
# A process's ru_maxrss includes the memory of the process it was forked from, up to its exec: a command
# started by the benchmark would count the benchmark's own memory. It is started by a bare Python instead
# (``python -S``, a few MB), which writes the command's peak RSS (KB) into the file given first.
RSS_WRAPPER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_measured(cmd: Sequence[str], log: Path) -> Tuple[float, float]:
    """Run ``cmd`` (output to ``log``); its wall seconds and peak RSS in MB (the largest of its processes)."""
    rss_file = log.with_suffix(".maxrss")
    start = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.call([sys.executable, "-S", "-c", RSS_WRAPPER, str(rss_file), *cmd], cwd=REPO, env=ENV,
                               stdout=out, stderr=subprocess.STDOUT)
    if code:
        sys.exit(f"bench_data: {' '.join(cmd)} failed (exit status {code}); see {log}")
    return time.perf_counter() - start, int(rss_file.read_text()) / 1024


def prepare_and_pack(work: Path, name: str, tsv: Path) -> Dict[str, float]:
    """Stages 1 and 2 of one corpus, each measured; returns the figures."""
    data, shards, logs = work / "data" / name, work / "dump" / "raw" / name, work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stage1_s, stage1_rss = run_measured([sys.executable, "-m", "part.data.corpora.generic", "--tsv", str(tsv),
                                         "--out", str(data)], logs / f"stage1_{name}.log")
    pack_s, pack_rss = run_measured([sys.executable, "-m", "part.bin.pack_shards", "--data_dir", str(data),
                                     "--out_dir", str(shards), "--nj", "2", "--utts_per_shard", "1000"],
                                    logs / f"pack_{name}.log")
    skipped = "already done" in (logs / f"pack_{name}.log").read_text()
    return {"stage1_s": stage1_s, "stage1_rss_mb": stage1_rss, "pack_s": float("nan") if skipped else pack_s,
            "pack_rss_mb": float("nan") if skipped else pack_rss}


def measure_loading(work: Path, name: str, tokenizer: Path, num_workers: int,
                    feature: Tuple[str, int] = ("fbank", 80)) -> Dict[str, float]:
    """One epoch's loading (``loading_pass`` in a subprocess); returns its figures and peak RSS."""
    result = work / "logs" / f"loading_{name}_w{num_workers}_{feature[0]}{feature[1]}.json"
    wall, rss = run_measured([sys.executable, str(Path(__file__).resolve()), "--loading_pass",
                              str(work / "dump" / "raw" / name), "--tokenizer", str(tokenizer), "--num_workers",
                              str(num_workers), "--feature", feature[0], str(feature[1]), "--result", str(result)],
                             result.with_suffix(".log"))
    figures = json.loads(result.read_text())
    figures["rss_mb"] = rss
    return figures


def loading_pass(shards: str, tokenizer: str, num_workers: int, feature_type: str = "fbank",
                 num_mel_bins: int = 80) -> Dict[str, float]:
    """Read one pass of ASR batches with features through the training loader; time it and its memory, and
    the replay of the stream's metadata alone (what a resumed run does to skip the batches it trained on)."""
    from part.data.batch import ExamplePreprocessor
    from part.data.features import FeatureOptions
    from part.data.loader import BatchLoader, ShardIterFactory
    from part.data.sampler import ExampleStream, SamplerConf
    from part.data.shards import ShardSet

    shard_set, conf = ShardSet(shards), SamplerConf()

    def make_stream():
        return ExampleStream(shard_set, PROMPTS, ["*-en"], conf, 0, lambda g: ["asr"])

    start = time.perf_counter()
    batches_per_pass, examples = 0, 0  # the training stream's batches that hold one pass (metadata only)
    for batch in make_stream():
        if examples >= shard_set.num_utts:
            break
        batches_per_pass, examples = batches_per_pass + 1, examples + len(batch)
    replay_s = time.perf_counter() - start
    from transformers import AutoTokenizer

    # Loaded before the workers fork, as in a training process (which has the LLM's).
    preprocess = ExamplePreprocessor(tokenizer=AutoTokenizer.from_pretrained(tokenizer))
    features = FeatureOptions(num_mel_bins=num_mel_bins, feature_type=feature_type)
    factory = ShardIterFactory(make_stream, BatchLoader(features, preprocess), batches_per_pass,
                               num_workers=num_workers)
    start = time.perf_counter()
    examples, frames = 0, 0
    for ids, batch in factory.build_iter(1):
        examples += len(ids)
        frames += int(batch["speech_lengths"].sum())
    elapsed = time.perf_counter() - start
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers have ended with the epoch
    return {"utts": shard_set.num_utts, "examples": examples, "batches": batches_per_pass, "wall_s": elapsed,
            "replay_utts_per_s": examples / replay_s, "audio_s": frames / 100.0,
            "worker_cpu_s": workers.ru_utime + workers.ru_stime,
            "main_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mb": workers.ru_maxrss / 1024}


def padding(shards: Path, passes: int = 5) -> Tuple[float, float, int]:
    """Padding of fixed-size vs bucketed batches over the durations of a packed set (``passes`` passes)."""
    from part.data.sampler import ExampleStream, SamplerConf, fixed_size_batches, padding_ratio
    from part.data.shards import ShardSet

    shard_set = ShardSet(shards)
    stream = ExampleStream(shard_set, PROMPTS, ["*-en"], SamplerConf(), 0, lambda g: ["asr"])
    batches: List[List[float]] = []
    while sum(len(b) for b in batches) < passes * shard_set.num_utts:
        batches.append([ex.duration for ex in next(stream)])
    size = round(sum(len(b) for b in batches) / len(batches))
    fixed = fixed_size_batches([d for b in batches for d in b], size)
    return padding_ratio(fixed), padding_ratio(batches), size


def disk_per_hour(clips: Sequence[Path], shards: Path) -> Dict[str, float]:
    """MB per hour of audio: 16-bit FLAC, Ogg/Opus and MP3 (libsndfile's default settings) of the same
    16 kHz audio, for espeak-ng speech with noise at 25 dB SNR (the embedded corpus's kind; when espeak-ng
    is installed) and for the benchmark's clips, the packed shard set (tar and manifests) of those clips,
    and the float32 feature dumps of stage 2 (100 frames per second x bins x 4 bytes)."""
    import io

    import soundfile

    def sizes(name: str, signals: List[np.ndarray]) -> None:
        hours = sum(len(x) for x in signals) / 16000 / 3600
        for fmt, subtype in (("FLAC", "PCM_16"), ("OGG", "OPUS"), ("MP3", None)):
            total = 0
            for x in signals:
                out = io.BytesIO()
                soundfile.write(out, x, 16000, format=fmt, subtype=subtype)
                total += len(out.getvalue())
            figures[f"{name}_{fmt.lower()}"] = total / 1e6 / hours

    figures: Dict[str, float] = {}
    try:
        from part.data.embedded.synth import add_noise, espeak, resample

        speech = []
        for k, voice in enumerate(["en", "de", "fr", "es", "it"] * 4):
            samples, rate = espeak(" ".join(WORDS[k: k + 12]), voice, 160, 50)
            speech.append(add_noise(resample(samples, rate), 25.0, k))
        sizes("speech", speech)
    except Exception as err:  # no espeak-ng: the synthetic clips only
        logging.warning("no speech for the disk figures (%s)", err)
    sizes("clips", [soundfile.read(str(c), dtype="float32")[0] for c in clips[:200]])
    from part.data.shards import ShardSet

    packed = sum(p.stat().st_size for p in (shards / "shards").iterdir())
    figures["packed_flac"] = packed / 1e6 / (ShardSet(shards).seconds / 3600)
    for name, bins in (("fbank80", 80), ("logmel128", 128)):
        figures[name] = 100 * bins * 4 * 3600 / 1e6
    return figures


# ---------------------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--work_dir", default=str(Path(tempfile.gettempdir()) / "part_bench_data"),
                        help="corpora, data dirs and shards (kept and reused)")
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 100000], metavar=("SMALL", "LARGE"),
                        help="utterances of the two manifests compared")
    parser.add_argument("--throughput_utts", type=int, default=2000, help="utterances of the throughput corpus")
    parser.add_argument("--quick", action="store_true", help="sizes 200 and 5000, 300 throughput utterances")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    # The loading step, run by the benchmark in a subprocess of its own.
    parser.add_argument("--loading_pass", help=argparse.SUPPRESS)
    parser.add_argument("--tokenizer", help=argparse.SUPPRESS)
    parser.add_argument("--num_workers", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--feature", nargs=2, default=["fbank", "80"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loading_pass:
        figures = loading_pass(args.loading_pass, args.tokenizer, args.num_workers, args.feature[0],
                               int(args.feature[1]))
        Path(args.result).write_text(json.dumps(figures) + "\n")
        return
    if args.quick:
        args.sizes, args.throughput_utts = [200, 5000], 300
    print(f"# {' '.join([sys.executable] + sys.argv)}", file=sys.stderr)
    logging.basicConfig(level=logging.WARNING)

    work = Path(args.work_dir)
    tokenizer = write_tokenizer(work / "tokenizer")
    results: Dict[str, dict] = {}
    print(f"{'corpus':>12} {'utts':>7} {'audio h':>8} {'stage 1 MB':>10} {'stage 2 MB':>10} {'stage 2 s':>9} "
          f"{'load MB':>8} {'(main':>6} {'worker)':>7} {'load s':>7}")
    small = short_clips(work / "clips")
    corpora = [(f"manifest{n}", write_corpus(work / "corpora" / f"manifest{n}", small, n), 2) for n in args.sizes]
    throughput_name = f"throughput{args.throughput_utts}"
    corpora.append((throughput_name, write_corpus(work / "corpora" / throughput_name,
                                                  throughput_clips(work / "clips", args.throughput_utts),
                                                  args.throughput_utts), 1))
    for name, tsv, workers in corpora:
        figures = prepare_and_pack(work, name, tsv)
        figures.update(measure_loading(work, name, tokenizer, workers))
        results[name] = figures
        print(f"{name:>12} {figures['utts']:>7} {figures['audio_s'] / 3600:>8.2f} {figures['stage1_rss_mb']:>10.0f} "
              f"{figures['pack_rss_mb']:>10.0f} {figures['pack_s']:>9.1f} {figures['rss_mb']:>8.0f} "
              f"{figures['main_rss_mb']:>6.0f} {figures['worker_rss_mb']:>7.0f} {figures['wall_s']:>7.1f}",
              flush=True)

    small_name, large_name = (f"manifest{n}" for n in args.sizes)
    ratios = {key: results[large_name][key] / results[small_name][key]
              for key in ("stage1_rss_mb", "pack_rss_mb", "rss_mb")}
    throughput = results[throughput_name]
    # Per worker: seconds of audio per CPU second of the worker, what it does on a core of its own (on a
    # shared machine the wall clock also counts other jobs' time); the wall-clock figure is printed too.
    audio_s_per_s = throughput["audio_s"] / throughput["worker_cpu_s"]
    whisper = measure_loading(work, throughput_name, tokenizer, 1, ("whisper", 128))
    whisper_s_per_s = whisper["audio_s"] / whisper["worker_cpu_s"]
    replay = results[large_name]["replay_utts_per_s"]
    padding_fixed, padding_bucketed, size = padding(work / "dump" / "raw" / throughput_name)
    results["summary"] = {"stage1_rss_ratio": ratios["stage1_rss_mb"], "pack_rss_ratio": ratios["pack_rss_mb"],
                          "loading_rss_ratio": ratios["rss_mb"], "audio_s_per_s": audio_s_per_s,
                          "whisper128_audio_s_per_s": whisper_s_per_s, "replay_utts_per_s": replay,
                          "padding_fixed": padding_fixed, "padding_bucketed": padding_bucketed,
                          "fixed_batch_size": size}
    n_small, n_large = args.sizes
    stage2 = "not measured (packed by an earlier run)" if np.isnan(ratios["pack_rss_mb"]) \
        else f"{ratios['pack_rss_mb']:.2f}x"
    print(f"peak RSS {n_large}/{n_small} utterances: stage 1 {ratios['stage1_rss_mb']:.2f}x, stage 2 {stage2}, "
          f"one epoch's loading {ratios['rss_mb']:.2f}x")
    print(f"loader throughput per worker, 80-bin fbank on the fly: {audio_s_per_s:.0f} s of audio per CPU s of "
          f"the worker ({throughput['utts']} utterances, {throughput['audio_s'] / 3600:.2f} h, 1 worker: "
          f"{throughput['worker_cpu_s']:.1f} CPU s, {throughput['wall_s']:.1f} s wall: "
          f"{throughput['audio_s'] / throughput['wall_s']:.0f} s of audio per s); with 128-bin Whisper log-mel: "
          f"{whisper_s_per_s:.0f} per CPU s")
    print(f"metadata replay (a resumed run skipping the batches it trained on): {replay:.0f} utterances per s")
    print(f"padding over 5 passes of the throughput corpus: fixed batches of {size}: {100 * padding_fixed:.1f}%, "
          f"duration buckets (data_conf defaults): {100 * padding_bucketed:.1f}%")
    disk = disk_per_hour(throughput_clips(work / "clips", args.throughput_utts),
                         work / "dump" / "raw" / throughput_name)
    results["disk_mb_per_hour"] = disk
    for name, what in (("speech", "espeak-ng speech + noise"), ("clips", "the synthetic clips")):
        if f"{name}_flac" in disk:
            print(f"disk per hour of {what}: FLAC 16-bit {disk[f'{name}_flac']:.0f} MB, Ogg/Opus "
                  f"{disk[f'{name}_ogg']:.0f} MB, MP3 {disk[f'{name}_mp3']:.0f} MB")
    print(f"disk per hour: packed shards of the clips {disk['packed_flac']:.0f} MB; float32 dumps: 80-bin fbank "
          f"{disk['fbank80']:.0f} MB, 128-bin log-mel {disk['logmel128']:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    rss_ratio = max(ratios["stage1_rss_mb"], ratios["rss_mb"])
    print(f"bench_data: rss_ratio={rss_ratio:.2f} audio_s_per_s={audio_s_per_s:.0f} padding_fixed={padding_fixed:.3f} "
          f"padding_bucketed={padding_bucketed:.3f}")


if __name__ == "__main__":
    main()
