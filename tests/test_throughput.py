"""bench/bench_throughput.py: the cpu-small preset end to end (its output format, not its timings), and
its FLOP formula against PyTorch's FLOP counter on the real forward and backward passes."""
from __future__ import annotations

import importlib.util
import json
import re
import sys

import pytest
import torch

from helpers_tiny import REPO

LINE = re.compile(r"^bench_throughput: preset=cpu-small stage=(\d) audio_h_per_device_h=\d+\.\d tokens_per_s=\d+ "
                  r"mfu=(n/a|\d\.\d{3}) peak_mem_gb=\d+\.\d\d rtfx_b1=\d+\.\d rtfx_b32=\d+\.\d$")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", REPO / "bench" / "bench_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_small_ends_with_one_line_per_phase(bench, tmp_path, capsys):
    out_json = tmp_path / "figures.json"
    assert bench.main(["--preset", "cpu-small", "--device", "cpu", "--steps", "1", "--warmup", "0",
                       "--decode_utts_b1", "2", "--decode_batch", "4", "--decode_tokens", "3",
                       "--json", str(out_json)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [LINE.match(line).group(1) for line in lines[-3:]] == ["1", "2", "3"], lines[-3:]
    assert all(m.group(2) == "n/a" for m in map(LINE.match, lines[-3:]))  # no peak is assumed for a CPU
    assert any(line.startswith("model FLOPs = ") for line in lines)
    figures = json.loads(out_json.read_text())
    assert [p["phase"] for p in figures["phases"]] == [1, 2, 3]
    trainable = [p["trainable"] for p in figures["phases"]]
    assert trainable[0] < trainable[1] < trainable[2]  # adapter; + encoder; + LoRA
    assert all(p["flops_per_step"]["llm"] > 0 and p["rtfx_b32"] > 0 for p in figures["phases"])
    assert figures["whisper_window"]["window_cost"] > 1.0


def test_prompt_token_counts_of_the_commonvoice_asr_prompt(bench):
    # "<|im_start|>user\n" | "\nTranscribe this German audio.<|im_end|>\n<|im_start|>assistant\n"
    assert bench.prompt_token_counts() == (3, 11)


def test_flop_formula_matches_pytorchs_flop_counter(bench):
    """The model FLOPs of one unpadded example, forward only and per phase (forward + backward), against
    what torch.utils.flop_counter counts on the real passes (eager attention: its matrix products are
    counted). The formula charges 6WN to every trained weight, where the passes skip the input gradient
    of the first trained layer of a path (nothing upstream needs it): a few percent more."""
    from torch.utils.flop_counter import FlopCounterMode

    from part.schedule import apply_trainable

    torch.manual_seed(0)
    preset = bench.PRESETS["cpu-small"]
    model = bench.build_model(preset, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    batch = bench.make_inputs([bench.Example(frames=523, target=20)], 80, (3, 11), preset["llm"]["vocab_size"],
                              "cpu", gen)
    for phase in (None, 1, 2, 3):
        if phase == 3:
            bench.add_phase3_lora(model, preset["lora"])
        model.encoder.whisper.config._attn_implementation = "eager"
        model.llm.config._attn_implementation = "eager"
        flops = bench.FlopModel.of(model)
        apply_trainable(model, bench.PHASE_GROUPS[phase] if phase else [])
        model.train()
        vectors, positions = bench.lengths_through(model, batch)
        expected = sum(flops.count([523], vectors, positions, phase).values())
        with FlopCounterMode(display=False) as counter:
            if phase is None:
                with torch.no_grad():
                    model(**batch)
            else:
                model(**batch)[0].backward()
        model.zero_grad(set_to_none=True)
        ratio = counter.get_total_flops() / expected
        assert (ratio == pytest.approx(1.0, abs=1e-6)) if phase is None else (0.93 < ratio <= 1.0), (phase, ratio)
