"""The learning-curve and analysis sections that make_results appends to RESULTS.md."""
import json

from part.scoring.report_sections import analysis_section, curves_section


def test_curves_section_links_every_stage_and_the_llm_metrics(tmp_path):
    exp = tmp_path / "exp"
    for phase in ("part_seed1/phase1", "baseline_seed1/phase2"):
        (exp / phase / "images").mkdir(parents=True)
        for name in ("loss", "acc", "backward_time"):
            (exp / phase / "images" / f"{name}.png").write_bytes(b"png")
    (exp / "llm").mkdir()
    (exp / "llm" / "metrics.json").write_text(json.dumps({"copy_exact": 75.0, "mt_xx_en_bleu": 66.7}))
    text = curves_section(exp, tmp_path / "RESULTS.md")
    assert ("| part_seed1/phase1 | [acc](exp/part_seed1/phase1/images/acc.png) "
            "[loss](exp/part_seed1/phase1/images/loss.png) |") in text
    assert "baseline_seed1/phase2" in text and "backward_time" not in text
    assert "copy exact match 75.0%" in text and "BLEU 66.7" in text
    assert curves_section(tmp_path / "empty", tmp_path / "RESULTS.md") == ""


def test_analysis_section_tabulates_each_stage_with_relative_links(tmp_path):
    analysis = tmp_path / "exp" / "part_seed1" / "analysis"
    (analysis / "phase2").mkdir(parents=True)
    (analysis / "phase2" / "grad_similarity.png").write_bytes(b"png")
    (analysis / "phase_summary.png").write_bytes(b"png")
    summary = {"phases": {"phase2": {"gradient_similarity": {"within_language": 0.5, "cross_language": 0.25},
                                     "language_probe": {"accuracy": 0.9}, "alignment": {"precision": 0.4}}}}
    (analysis / "summary.json").write_text(json.dumps(summary))
    report = tmp_path / "out" / "RESULTS.md"
    report.parent.mkdir()
    text = analysis_section(tmp_path / "exp", report)
    assert ("| part_seed1 | phase2 | 0.500 | 0.250 | 90.0% | 0.400 "
            "| [heatmap](../exp/part_seed1/analysis/phase2/grad_similarity.png) |") in text
    assert "(../exp/part_seed1/analysis/phase_summary.png)" in text
    assert analysis_section(tmp_path / "nothing", report) == ""


def test_wall_time_section_sums_repeated_steps_and_names_the_slowest(tmp_path):
    import pytest

    from part.scoring.report_sections import read_wall_times, wall_time_section

    tsv = tmp_path / "wall_time.tsv"
    # A first run killed during encoder pretraining, then a second that found stages 1-2 done.
    tsv.write_text("stage 1: data preparation\t60.5\nstage 3: encoder pretraining\t100.0\n"
                   "stage 1: data preparation\t2.0\nstage 3: encoder pretraining\t230.0\n"
                   "stage 4: part_seed1 phase1\t50.0\n")
    assert read_wall_times(tsv) == [("stage 1: data preparation", 62.5), ("stage 3: encoder pretraining", 330.0),
                                    ("stage 4: part_seed1 phase1", 50.0)]
    text = wall_time_section(tsv)
    assert "The slowest step: **stage 3: encoder pretraining** (5.5 min)" in text
    assert "| stage 3: encoder pretraining | 330 | 5.5 | 75% |" in text and "| total | 442 | 7.4 | 100% |" in text
    tsv.write_text("stage 1: data preparation\t60.5\nstage 2 features 12\n")
    with pytest.raises(ValueError, match=r"wall_time.tsv:2: expected"):
        read_wall_times(tsv)
