"""The learning-curve and analysis sections that make_results appends to RESULTS.md."""
import json
from pathlib import Path

from part.scoring.report_sections import analysis_section, curves_section


def test_curves_section_links_every_stage_and_the_llm_metrics(tmp_path):
    exp = tmp_path / "exp"
    for stage in ("part_seed1/stage1", "baseline_seed1/stage2"):
        (exp / stage / "images").mkdir(parents=True)
        for name in ("loss", "acc", "backward_time"):
            (exp / stage / "images" / f"{name}.png").write_bytes(b"png")
    (exp / "llm").mkdir()
    (exp / "llm" / "metrics.json").write_text(json.dumps({"copy_exact": 75.0, "mt_xx_en_bleu": 66.7}))
    text = curves_section(exp, tmp_path / "RESULTS.md")
    assert "| part_seed1/stage1 | [acc](exp/part_seed1/stage1/images/acc.png) [loss](exp/part_seed1/stage1/images/loss.png) |" in text
    assert "baseline_seed1/stage2" in text and "backward_time" not in text
    assert "copy exact match 75.0%" in text and "BLEU 66.7" in text
    assert curves_section(tmp_path / "empty", tmp_path / "RESULTS.md") == ""


def test_analysis_section_tabulates_each_stage_with_relative_links(tmp_path):
    analysis = tmp_path / "exp" / "part_seed1" / "analysis"
    (analysis / "stage2").mkdir(parents=True)
    (analysis / "stage2" / "grad_similarity.png").write_bytes(b"png")
    (analysis / "stage_summary.png").write_bytes(b"png")
    summary = {"stages": {"stage2": {"gradient_similarity": {"within_language": 0.5, "cross_language": 0.25},
                                     "language_probe": {"accuracy": 0.9}, "alignment": {"precision": 0.4}}}}
    (analysis / "summary.json").write_text(json.dumps(summary))
    report = tmp_path / "out" / "RESULTS.md"
    report.parent.mkdir()
    text = analysis_section(tmp_path / "exp", report)
    assert "| part_seed1 | stage2 | 0.500 | 0.250 | 90.0% | 0.400 | [heatmap](../exp/part_seed1/analysis/stage2/grad_similarity.png) |" in text
    assert "(../exp/part_seed1/analysis/stage_summary.png)" in text
    assert analysis_section(tmp_path / "nothing", report) == ""
