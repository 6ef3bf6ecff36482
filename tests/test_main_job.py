"""The main job at its tiny size: every stage of the embedded recipe, both methods, through run_all.sh.

It runs in a copy of the recipe under tmp_path (conf/ and local/ linked to the repository's), so it
never touches results in the repository's recipe dir and always runs every stage for real. Its PART
model is then exported and decoded from a copy of the exported folder in a fresh process.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from part.recipe_copy import REPO, make_recipe_copy


@pytest.mark.slow
def test_run_all_tiny_runs_every_stage_of_both_methods(tmp_path):
    recipe = make_recipe_copy(tmp_path)
    env = dict(os.environ, PART_RECIPE_DIR=str(recipe))
    # About 10 minutes on 2 idle cores (every phase of both methods is decoded twice: speech and noise clips);
    # the limit leaves room for a machine shared with other jobs.
    proc = subprocess.run([str(REPO / "run_all.sh"), "--size", "tiny"], cwd=REPO, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=2400)
    log = proc.stdout
    (tmp_path / "run_all.log").write_text(log)
    assert proc.returncode == 0, log[-4000:]
    check_outputs(recipe, log)

    # A second run finds everything done and recomputes nothing.
    proc2 = subprocess.run([str(REPO / "run_all.sh"), "--size", "tiny"], cwd=REPO, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    assert proc2.returncode == 0, proc2.stdout[-3000:]
    assert "finished already" in proc2.stdout and "epoch results" not in proc2.stdout

    check_export(recipe / "size_tiny", tmp_path)


def check_outputs(recipe: Path, log: str) -> None:
    work = recipe / "size_tiny"
    exp = work / "exp"
    # The comparison table is printed, with both methods and every language.
    table = log[log.index("=== PART vs Baseline-2stage"):]
    assert "part/phase3" in table and "baseline/phase2" in table
    for lang in ("de", "en", "es", "fr", "ja", "zh"):
        assert re.search(rf"^{lang} \((WER|CER)\)", table, re.M), f"no ASR row for {lang}"
    assert "de-en (BLEU)" in table
    report = (work / "RESULTS.md").read_text()
    # Stage 1 recorded the test sets that local/data.sh made; the later stages took them from there.
    assert (work / "data" / "test_sets").read_text().split() == ["test", "test_noise"]
    assert "./run_all.sh --size tiny --seeds '1' --adapter ctc_posterior" in report
    # The wall time of every step, printed and in the report, in the order the steps ran.
    timing = log[log.index("Wall time of each step of this run"):]
    steps = ["stage 1: data preparation", "stage 2: features", "stage 3: LLM pretraining",
             "stage 3: encoder pretraining", "stage 4: part_ctc_posterior_seed1 phase1",
             "stage 6: part_ctc_posterior_seed1 phase3", "stage 7: part_ctc_posterior_seed1 decoding",
             "stage 5: baseline_ctc_posterior_seed1 phase2", "stage 9: part_ctc_posterior_seed1 analysis"]
    positions = [timing.index(step) for step in steps[:-1]]
    assert positions == sorted(positions) and steps[-1] in timing and "total" in timing
    assert "## Wall time" in report and "| stage 3: encoder pretraining |" in report

    # Each training phase of each method trained, with curves; PART phase 2 unfroze the encoder
    # progressively and phase 3 added text-only translation from its second epoch. Every update of both
    # methods carried gradient (Baseline-2stage mixes only the speech tasks), as many for each.
    for method, phases in (("part_ctc_posterior_seed1", (1, 2, 3)), ("baseline_ctc_posterior_seed1", (1, 2))):
        for n in phases:
            phase_dir = exp / method / f"phase{n}"
            assert (phase_dir / ".done").is_file()
            assert (phase_dir / "valid.acc.ave.pth").exists()
            assert any((phase_dir / "images").glob("loss.png"))
            assert "epoch results" in (phase_dir / "train.log").read_text()
            counts = json.loads((phase_dir / "grad_updates.json").read_text())["epochs"]
            assert all(e["batches"] == e["with_gradient"] == 4 for e in counts.values()), (method, n, counts)
        assert not (exp / method / "phase3").exists() or method.startswith("part")
    assert "trainable groups ['adapter', 'encoder_last_2']" in log
    assert "trainable groups ['adapter', 'encoder']" in log
    assert "batches of tasks ['asr', 's2tt', 'mt']" in log
    assert "| PART | phase3 | 4 | 16 | 16 | 36 |" in report
    assert "| Baseline-2stage | phase2 | 7 | 28 | 28 | 36 |" in report

    # Decoding and scoring of every phase: per-language sclite-style reports, per-utterance counts and failure
    # labels, BLEU for every direction, and the noise-only clips.
    for method, phases in (("part_ctc_posterior_seed1", (1, 2, 3)), ("baseline_ctc_posterior_seed1", (1, 2))):
        for n in phases:
            for name in ("test_asr", "test_s2tt", "test_noise_asr"):
                assert (exp / method / f"phase{n}" / f"decode_{name}" / "scores.json").is_file(), (method, n, name)
    asr = exp / "part_ctc_posterior_seed1" / "phase3" / "decode_test_asr"
    records = json.loads((asr / "scores.json").read_text())
    assert {r["src"] for r in records} == {"de", "en", "es", "fr", "ja", "zh"}
    assert all(r["failures"]["speech"] == 4 and r["failures"]["language_id"] for r in records)
    result = (asr / "score_cer" / "zh" / "result.txt").read_text()
    assert "SYSTEM SUMMARY PERCENTAGES by SPEAKER" in result and "Scores: (#C #S #D #I)" in result
    assert "%WER" in (asr / "score_wer" / "de" / "wer").read_text()
    assert len((asr / "score_wer" / "de" / "per_utt").read_text().splitlines()) == 4
    assert (asr / "failures").is_file()
    s2tt = exp / "baseline_ctc_posterior_seed1" / "phase2" / "decode_test_s2tt"
    assert (s2tt / "score_bleu" / "de-en" / "bleu").is_file()
    noise = json.loads((exp / "part_ctc_posterior_seed1" / "phase1" / "decode_test_noise_asr" / "scores.json")
                       .read_text())
    assert sum(r["failures"]["no_speech"] for r in noise) == 12

    # The report: provenance, the last phases with intervals, the trajectory with its plot, failures.
    assert "## Provenance" in report and "Configuration hash" in report
    assert "## PART vs Baseline-2stage, adapter `ctc_posterior`" in report
    assert "### PART (phase3) vs Baseline-2stage (phase2) on test" in report
    assert "| ASR, average error (%) |" in report and "[" in report.split("| ASR, average error (%) |")[1]
    assert "### Phase by phase (test)" in report and (work / "figures" / "phases_ctc_posterior_test.png").is_file()
    assert "### Failures of the last phases (test, ASR)" in report
    assert "### Clips without speech (test_noise): clips with output" in report
    printed = log[log.index("=== PART vs Baseline-2stage (exp"):]
    assert "PART − Baseline [95% CI]" in printed and "Phase by phase (test)" in printed

    # Analysis (stage 9): gradient-similarity heatmaps and the side-by-side comparison.
    assert (exp / "part_ctc_posterior_seed1" / "analysis" / "phase3" / "grad_similarity.png").is_file()
    assert (exp / "baseline_ctc_posterior_seed1" / "analysis" / "grad_similarity_compare.png").is_file()


_DECODE_EXPORTED = r"""
import json, sys
from part.data.sources import ExampleListSource
from part.inference import SpeechToText

s2t = SpeechToText.from_pretrained(sys.argv[1])
forced = SpeechToText.from_pretrained(sys.argv[1], min_new_tokens=4, max_new_tokens=4, max_repeat_ngram=0)
source = ExampleListSource(sys.argv[2])
out = {"tasks": sorted(m for m in sys.modules if m.startswith("part.tasks"))}
for task in ("asr", "s2tt"):
    ids = source.ids(task)
    examples = [{k: v for k, v in source.example(i).items() if k != "text"} for i in ids]
    out[task] = dict(zip(ids, (s2t.to_text(h) for h in s2t.decode_examples(examples))))
    out[task + "_forced"] = dict(zip(ids, forced.decode_examples(examples, return_scores=True)[1]))
print(json.dumps(out))
"""


def check_export(work: Path, tmp_path: Path) -> None:
    """Export PART's phase 3, reload it in a fresh process from a copy outside the recipe folder (with the
    recipe's LLM folder moved away) and decode the test set's ASR and S2TT examples: the hypotheses equal
    stage 7's. The tiny model often stops at once, so the log-probabilities of 4 forced tokens are also
    compared with the experiment dir's own."""
    from part.data.examples import read_kv
    from part.data.sources import ExampleListSource
    from part.export import export_model
    from part.inference import SpeechToText

    phase = work / "exp" / "part_ctc_posterior_seed1" / "phase3"
    exported = export_model(str(phase), str(tmp_path / "exported"))
    copy = tmp_path / "elsewhere" / "part-tiny"
    shutil.copytree(exported, copy)
    llm, moved = work / "exp" / "llm", work / "exp" / "llm.moved"
    llm.rename(moved)
    try:
        # Run in the recipe dir only because the test set's feats.scp paths are relative to it.
        proc = subprocess.run([sys.executable, "-c", _DECODE_EXPORTED, str(copy), "dump/examples/test"],
                              cwd=work, env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    finally:
        moved.rename(llm)
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = json.loads(proc.stdout.strip().splitlines()[-1])
    assert fresh["tasks"] == []
    reference = SpeechToText.from_exp_dir(str(phase), min_new_tokens=4, max_new_tokens=4, max_repeat_ngram=0)
    old = os.getcwd()
    os.chdir(work)  # the recipe dir: feats.scp paths are relative to it
    try:
        source = ExampleListSource("dump/examples/test")
        for task in ("asr", "s2tt"):
            stage7 = read_kv(phase / f"decode_test_{task}" / "hyp")
            ids = source.ids(task)
            assert fresh[task] == stage7 and len(stage7) == len(ids)
            examples = [{k: v for k, v in source.example(i).items() if k != "text"} for i in ids]
            scores = reference.decode_examples(examples, return_scores=True)[1]
            assert [fresh[task + "_forced"][i] for i in ids] == pytest.approx(scores, abs=1e-4)
    finally:
        os.chdir(old)
