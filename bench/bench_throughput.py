"""Training throughput, MFU, peak memory and decoding speed of PART at the paper's model sizes.

Usage::

    python bench/bench_throughput.py --preset paper-2b            # on a GPU: the paper's 2B model
    python bench/bench_throughput.py --preset paper-8b            # the 7B LLM
    python bench/bench_throughput.py --preset cpu-small           # tiny, for a CPU and the test suite

Random-initialised models with the real shapes, built from configs (nothing is downloaded) by the
builders the task uses (``build_encoder``, ``build_adapter``, the LLM from a transformers config,
``add_lora``, ``SpeechLLM``):

- ``paper-2b``: a Whisper-large-v3-sized encoder (32 layers, d_model 1280, 20 heads, 128 mel bins,
  637M parameters) at the length of the audio, the paper's ``transformer_cnn`` adapter (stride 4, 2 layers
  of width 1024, as ``egs/commonvoice/conf/part``), a Qwen2.5-1.5B-sized LLM (1.54B), LoRA r=16 on
  q,k,v,o in phase 3;
- ``paper-8b``: the same with a Qwen2.5-7B-sized LLM (7.6B);
- ``cpu-small``: the same architecture, tiny.

Each PART phase trains its own set — phase 1 the adapter, phase 2 adapter + encoder, phase 3 adapter +
encoder + LoRA — with the recipe's per-device batch (16 / 8 / 8 utterances; ``--batch_size``): AdamW,
the frozen LLM in bf16 and bf16 autocast on a GPU (as ESPnet's ``use_amp`` with ``llm_conf.dtype:
bfloat16``), float32 on a CPU. Utterances are 3-8 s (uniform), batched by sorted length as ESPnet's
folded batches are; prompts have the token counts of ``egs/commonvoice/conf/prompts.yaml``'s ASR
prompt; targets 15-30 tokens, like Common Voice transcripts.

Per phase: audio hours trained per device hour, LLM positions per second, achieved TFLOP/s and MFU
(model FLOPs of the real frames and tokens, not of padding; the formula is printed), peak memory
(``torch.cuda.max_memory_allocated``; on a CPU the process's peak RSS so far), and the real-time factor
of greedy decoding (a fixed number of new tokens, bf16 autocast on a GPU) at batch 1 and batch 32
(RTFx = seconds of audio / seconds of decoding). Also: what the 30 s window would cost Whisper (encoder
time per batch of 3-6 s utterances, window vs cut) and how much the cut changes its outputs.

The last lines, one per phase (each one line, wrapped here)::

    bench_throughput: preset=<p> stage=<n> audio_h_per_device_h=<x> tokens_per_s=<t> mfu=<m> peak_mem_gb=<g>
        rtfx_b1=<r1> rtfx_b32=<r32>

(``stage`` is the PART phase, 1-3; ``mfu=n/a`` where the device's peak is unknown: give ``--peak_tflops``.)
"""
from __future__ import annotations

import argparse
import inspect
import json
import platform
import re
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

QWEN25_1_5B = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                   num_attention_heads=12, num_key_value_heads=2, tie_word_embeddings=True)
QWEN25_7B = dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                 num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False)
WHISPER_LARGE_V3 = dict(d_model=1280, encoder_layers=32, encoder_attention_heads=20, encoder_ffn_dim=5120,
                        num_mel_bins=128, max_source_positions=1500)
PAPER_ADAPTER = dict(stride=4, num_layers=2, d_model=1024, num_heads=16, ffn_dim=4096, dropout=0.1)
PAPER_LORA = dict(r=16, alpha=32, dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])

PRESETS = {
    "paper-2b": dict(encoder=WHISPER_LARGE_V3, adapter=PAPER_ADAPTER, llm=QWEN25_1_5B, lora=PAPER_LORA),
    "paper-8b": dict(encoder=WHISPER_LARGE_V3, adapter=PAPER_ADAPTER, llm=QWEN25_7B, lora=PAPER_LORA),
    "cpu-small": dict(
        encoder=dict(d_model=64, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=256, num_mel_bins=80,
                     max_source_positions=1500),
        adapter=dict(stride=4, num_layers=1, d_model=64, num_heads=4, ffn_dim=256, dropout=0.1),
        llm=dict(vocab_size=1000, hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, tie_word_embeddings=True),
        lora=dict(PAPER_LORA, r=4, alpha=8)),
}
PHASE_GROUPS = {1: ["adapter"], 2: ["adapter", "encoder"], 3: ["adapter", "encoder", "llm_lora"]}
RECIPE_BATCH = {1: 16, 2: 8, 3: 8}  # per-device batch_size of egs/commonvoice/conf/part/phase{1,2,3}.yaml
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}  # dense bf16, NVIDIA's data sheets
FRAMES_PER_SECOND = 100  # 10 ms log-mel frames


def prompt_token_counts(prompts_file: Path = REPO / "egs" / "commonvoice" / "conf" / "prompts.yaml",
                        language: str = "German") -> Tuple[int, int]:
    """Tokens before and after ``<speech>`` in the recipe's ASR prompt, counted as Qwen2.5's tokenizer
    splits English prompt text (a special token, a word, a punctuation mark or a newline each make one)."""
    import yaml

    template = yaml.safe_load(prompts_file.read_text(encoding="utf-8"))["asr"]
    before, _, after = template.replace("{src_name}", language).partition("<speech>")
    count = lambda text: len(re.findall(r"<\|[^|]+\|>|\w+|[^\w\s]|\n", text))  # noqa: E731
    return count(before), count(after)


@dataclass
class Example:
    frames: int  # log-mel frames (10 ms)
    target: int  # target tokens (EOS not included)


def draw_examples(n: int, rng: np.random.Generator, min_s: float, max_s: float,
                  target_tokens: Tuple[int, int] = (15, 30)) -> List[Example]:
    return [Example(int(rng.uniform(min_s, max_s) * FRAMES_PER_SECOND), int(rng.integers(target_tokens[0],
                                                                                         target_tokens[1] + 1)))
            for _ in range(n)]


def sorted_batches(examples: List[Example], batch_size: int, rng: np.random.Generator) -> List[List[Example]]:
    """Batches of neighbours in length order, in random order (ESPnet's sorted, folded batches)."""
    ordered = sorted(examples, key=lambda e: e.frames)
    batches = [ordered[i:i + batch_size] for i in range(0, len(ordered) - batch_size + 1, batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_inputs(batch: Sequence[Example], mel_bins: int, prompt: Tuple[int, int], vocab: int, device,
                gen: torch.Generator) -> Dict[str, torch.Tensor]:
    """Padded model inputs (features padded with 0, token ids with -1, as the task's collate does)."""
    n = len(batch)
    frames = torch.tensor([e.frames for e in batch])
    speech = torch.zeros(n, int(frames.max()), mel_bins)
    for i, e in enumerate(batch):
        speech[i, :e.frames] = torch.randn(e.frames, mel_bins, generator=gen)

    def ids(lengths: Sequence[int]):
        out = torch.full((n, max(max(lengths), 1)), -1, dtype=torch.long)
        for i, k in enumerate(lengths):
            out[i, :k] = torch.randint(3, vocab, (k,), generator=gen)
        return out, torch.tensor(list(lengths))

    prefix, prefix_lengths = ids([prompt[0]] * n)
    suffix, suffix_lengths = ids([prompt[1]] * n)
    text, text_lengths = ids([e.target for e in batch])
    inputs = dict(speech=speech, speech_lengths=frames, prefix=prefix, prefix_lengths=prefix_lengths, suffix=suffix,
                  suffix_lengths=suffix_lengths, text=text, text_lengths=text_lengths)
    return {k: v.to(device) for k, v in inputs.items()}


# ---------------------------------------------------------------------------------------------- the model
def build_model(preset: dict, device: torch.device, gradient_checkpointing: bool = False):
    """Encoder + adapter + LLM (bf16 on a GPU, float32 on a CPU) with random weights, built on ``device``."""
    from transformers import AutoModelForCausalLM, Qwen2Config

    from part.model.adapters import build_adapter
    from part.model.encoders import build_encoder
    from part.model.llm import enable_activation_checkpointing
    from part.model.speech_llm import SpeechLLM

    llm_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    with device:  # parameters are created (and initialised) where they live
        encoder = build_encoder("whisper", preset["encoder"]["num_mel_bins"],
                                dict(config=preset["encoder"], gradient_checkpointing=gradient_checkpointing))
        llm_config = Qwen2Config(**preset["llm"], bos_token_id=1, eos_token_id=2, pad_token_id=0)
        llm = AutoModelForCausalLM.from_config(llm_config, attn_implementation="sdpa", dtype=llm_dtype)
        for p in llm.parameters():
            p.requires_grad = False
        if gradient_checkpointing:
            enable_activation_checkpointing(llm)
        adapter = build_adapter("transformer_cnn", encoder.output_size, llm_config.hidden_size, preset["adapter"])
    model = SpeechLLM(encoder, adapter, llm, eos_id=2,
                      llm_dtype=llm_dtype if llm_dtype != torch.float32 else None)
    return model.to(device)


def add_phase3_lora(model, lora_conf: dict) -> None:
    """PART phase 3 adds LoRA to the LLM (``lora_conf`` of conf/part/phase3.yaml)."""
    from part.model.llm import add_lora

    device = next(model.llm.parameters()).device
    model.llm = add_lora(model.llm, **lora_conf).to(device)


def _weights(module: nn.Module, skip_lora: bool = True) -> int:
    """Elements of the matrix (and convolution) weights: 2 FLOPs per element per position in a forward."""
    return sum(p.numel() for n, p in module.named_parameters() if p.dim() >= 2 and not (skip_lora and "lora_" in n))


def _lora_weights(module: nn.Module) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if "lora_" in n)


@dataclass
class FlopModel:
    """Model FLOPs of a training step or a decoding pass, counted on real (unpadded) positions.

    A weight matrix of W elements applied at N positions costs 2WN in the forward pass, 2WN more for the
    gradient of its input and 2WN for its own gradient: 6WN where it trains, 4WN where it is frozen but the
    gradient flows through it to something that trains upstream (the LLM in phases 1-2), 2WN where
    nothing upstream trains (the encoder in phase 1). Self-attention over a sequence of N positions of
    width d costs 4dN^2 per layer in the forward pass (QK^T and AV; not halved for causal masking), 3x that
    with its backward pass.
    """

    encoder_layers_w: int  # Whisper layers' weights, applied at every encoder position (after conv2)
    encoder_conv1_w: int  # applied at every input frame
    encoder_conv2_w: int  # applied at every encoder position
    encoder_attn: Tuple[int, int]  # (layers, width)
    adapter_w: int  # strided conv + transformer + projection, at every adapter output vector
    adapter_attn: Tuple[int, int]
    llm_w: int  # decoder layers + LM head (no embedding lookup), at every LLM position
    lora_w: int
    llm_attn: Tuple[int, int]

    @classmethod
    def of(cls, model) -> "FlopModel":
        whisper = model.encoder.whisper
        llm = model.llm.get_base_model() if hasattr(model.llm, "get_base_model") else model.llm
        layers = llm.model.layers
        adapter_layer = model.adapter.transformer.layers
        return cls(
            encoder_layers_w=_weights(whisper.layers), encoder_conv1_w=whisper.conv1.weight.numel(),
            encoder_conv2_w=whisper.conv2.weight.numel(),
            encoder_attn=(len(whisper.layers), whisper.config.d_model),
            adapter_w=_weights(model.adapter),
            adapter_attn=(len(adapter_layer), adapter_layer[0].self_attn.embed_dim),
            llm_w=_weights(layers) + llm.get_output_embeddings().weight.numel(),
            lora_w=_lora_weights(model.llm),
            llm_attn=(len(layers), llm.config.num_attention_heads * getattr(
                llm.config, "head_dim", llm.config.hidden_size // llm.config.num_attention_heads)))

    def formula(self) -> str:
        return ("model FLOPs = sum over components of k x 2 x W x N + a x 4 x d x L x sum_i N_i^2, with N the real "
                "(unpadded) positions of each example: encoder frames after its stride-2 conv (its first conv: input "
                "frames), adapter vectors, LLM positions (prompt + speech vectors + target + EOS); k = 1 forward only, "
                "2 frozen with the gradient passing through, 3 trained; a = 1 forward only, 3 with backward.\n"
                f"  W: encoder layers {self.encoder_layers_w:,} + conv2 {self.encoder_conv2_w:,} (conv1 "
                f"{self.encoder_conv1_w:,}), adapter {self.adapter_w:,}, LLM layers + LM head {self.llm_w:,}, LoRA "
                f"{self.lora_w:,}; attention (L, d): encoder {self.encoder_attn}, adapter {self.adapter_attn}, LLM "
                f"{self.llm_attn}")

    def count(self, frames: Sequence[int], adapter_vectors: Sequence[int], llm_positions: Sequence[int],
              phase: Optional[int]) -> Dict[str, float]:
        """FLOPs per component for examples with these lengths; ``phase`` None: a forward pass only."""
        enc = [(n + 1) // 2 for n in frames]
        k_enc = 1 if phase in (None, 1) else 3
        k_adapter = 1 if phase is None else 3
        k_llm = 1 if phase is None else 2
        a_enc, a_rest = (1 if k_enc == 1 else 3), (1 if phase is None else 3)

        def attention(spec, lengths):
            layers, width = spec
            return 4.0 * width * layers * sum(n * n for n in lengths)

        encoder = (k_enc * 2.0 * ((self.encoder_layers_w + self.encoder_conv2_w) * sum(enc)
                                  + self.encoder_conv1_w * sum(frames)) + a_enc * attention(self.encoder_attn, enc))
        adapter = (k_adapter * 2.0 * self.adapter_w * sum(adapter_vectors)
                   + a_rest * attention(self.adapter_attn, adapter_vectors))
        lora = 0.0
        if self.lora_w:
            lora = (1 if phase is None else 3 if phase == 3 else 2) * 2.0 * self.lora_w * sum(llm_positions)
        llm = k_llm * 2.0 * self.llm_w * sum(llm_positions) + a_rest * attention(self.llm_attn, llm_positions) + lora
        return {"encoder": encoder, "adapter": adapter, "llm": llm}


# ---------------------------------------------------------------------------------------------- measuring
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def autocast_for(device: torch.device):
    from part.model.precision import autocast

    return autocast(device)


def lengths_through(model, batch: Dict[str, torch.Tensor]) -> Tuple[List[int], List[int]]:
    """Adapter vectors and LLM positions per example (from the model's own length arithmetic)."""
    with torch.no_grad():
        enc_len = (batch["speech_lengths"] + 1) // 2
        stride = model.adapter.stride
        vectors = torch.div(enc_len + stride - 1, stride, rounding_mode="floor").clamp(min=1)
    llm = vectors + batch["prefix_lengths"] + batch["suffix_lengths"] + batch["text_lengths"] + 1
    return vectors.tolist(), llm.tolist()


@dataclass
class PhaseResult:
    phase: int
    batch_size: int
    step_seconds: float
    audio_seconds_per_step: float
    llm_positions_per_step: float
    flops_per_step: Dict[str, float]
    peak_mem_gb: float
    trainable: int
    rtfx_b1: float = float("nan")
    rtfx_b32: float = float("nan")
    extra: Dict[str, float] = field(default_factory=dict)

    @property
    def audio_h_per_device_h(self) -> float:
        return self.audio_seconds_per_step / self.step_seconds

    @property
    def tokens_per_s(self) -> float:
        return self.llm_positions_per_step / self.step_seconds

    @property
    def tflops(self) -> float:
        return sum(self.flops_per_step.values()) / self.step_seconds / 1e12


def train_phase(model, phase: int, batches: List[List[Example]], warmup: int, args, device, prompt, vocab: int,
                flops: FlopModel, gen: torch.Generator) -> PhaseResult:
    from part.schedule import apply_trainable

    apply_trainable(model, PHASE_GROUPS[phase])
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    mel_bins = model.encoder.whisper.config.num_mel_bins
    inputs = [make_inputs(b, mel_bins, prompt, vocab, device, gen) for b in batches]
    reset_peak_memory(device)
    elapsed, audio, positions = 0.0, 0.0, 0.0
    step_flops = {"encoder": 0.0, "adapter": 0.0, "llm": 0.0}
    for step, batch in enumerate(inputs):
        sync(device)
        start = time.perf_counter()
        with autocast_for(device):
            loss = model(**batch)[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        if step < warmup:
            continue
        elapsed += time.perf_counter() - start
        audio += float(batch["speech_lengths"].sum()) / FRAMES_PER_SECOND
        vectors, llm_positions = lengths_through(model, batch)
        positions += sum(llm_positions)
        for key, value in flops.count(batch["speech_lengths"].tolist(), vectors, llm_positions, phase).items():
            step_flops[key] += value
    measured = len(inputs) - warmup
    del optimizer
    model.zero_grad(set_to_none=True)
    return PhaseResult(phase=phase, batch_size=len(batches[0]), step_seconds=elapsed / measured,
                       audio_seconds_per_step=audio / measured, llm_positions_per_step=positions / measured,
                       flops_per_step={k: v / measured for k, v in step_flops.items()},
                       peak_mem_gb=peak_memory_gb(device), trainable=sum(p.numel() for p in trainable))


def generate_kwargs(model) -> Dict[str, bool]:
    """Encode each decoding batch at once: the encoder here (Whisper at the length of the audio) is
    batch-exact. Until decoding does that by default, ``generate`` takes ``batch_encoder``."""
    return {"batch_encoder": True} if "batch_encoder" in inspect.signature(model.generate).parameters else {}


def decode_rtfx(model, examples: List[Example], batch_size: int, tokens: int, device, prompt, vocab: int,
                gen: torch.Generator) -> float:
    """Seconds of audio per second of greedy decoding of ``examples`` in batches of ``batch_size``."""
    model.eval()
    mel_bins = model.encoder.whisper.config.num_mel_bins
    batches = [examples[i:i + batch_size] for i in range(0, len(examples), batch_size)]
    inputs = []
    for b in batches:
        batch = make_inputs(b, mel_bins, prompt, vocab, device, gen)
        inputs.append({k: v for k, v in batch.items() if k not in ("text", "text_lengths")})
    kwargs = generate_kwargs(model)
    with torch.no_grad(), autocast_for(device):
        model.generate(**inputs[0], max_new_tokens=2, min_new_tokens=2, **kwargs)  # warm-up
        sync(device)
        start = time.perf_counter()
        for batch in inputs:
            hyps = model.generate(**batch, max_new_tokens=tokens, min_new_tokens=tokens, **kwargs)
            assert all(len(h) == tokens for h in hyps)
        sync(device)
    return sum(e.frames for e in examples) / FRAMES_PER_SECOND / (time.perf_counter() - start)


def whisper_window_cost(model, device, rng: np.random.Generator, gen: torch.Generator, batch_size: int = 8,
                        repeats: int = 3) -> Dict[str, float]:
    """Encoder time per batch of 3-6 s utterances on Whisper's full window vs at their own length, and the
    relative difference of the outputs (valid frames)."""
    encoder = model.encoder.eval()
    mel_bins = encoder.whisper.config.num_mel_bins
    frames = [int(rng.uniform(3, 6) * FRAMES_PER_SECOND) for _ in range(batch_size)]
    feats = torch.zeros(batch_size, max(frames), mel_bins)
    for i, n in enumerate(frames):
        feats[i, :n] = torch.randn(n, mel_bins, generator=gen)
    feats, lengths = feats.to(device), torch.tensor(frames, device=device)
    seconds, outputs = {}, {}
    with torch.no_grad(), autocast_for(device):
        for full_window in (False, True):
            encoder.full_window = full_window
            encoder(feats, lengths)  # warm-up
            best = float("inf")
            for _ in range(repeats):
                sync(device)
                start = time.perf_counter()
                out = encoder(feats, lengths)
                sync(device)
                best = min(best, time.perf_counter() - start)
            seconds[full_window], outputs[full_window] = best, out
    encoder.full_window = False
    valid = (torch.arange(outputs[False].hidden.size(1), device=device)[None, :] < outputs[False].lengths[:, None])
    cut, window = outputs[False].hidden.float(), outputs[True].hidden.float()
    diff = float(((cut - window) * valid[..., None]).norm() / (window * valid[..., None]).norm())
    return {"cut_s": seconds[False], "window_s": seconds[True], "window_cost": seconds[True] / seconds[False],
            "relative_output_change": diff, "batch": batch_size}


def device_peak_tflops(device: torch.device, override: Optional[float]) -> Tuple[Optional[float], str]:
    if override:
        return override, f"{override:g} TFLOP/s (--peak_tflops)"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, peak in PEAK_BF16_TFLOPS.items():
            if key in name:
                return peak, f"{peak:g} TFLOP/s ({name}, dense bf16)"
        return None, f"unknown for {name}: give --peak_tflops"
    return None, "n/a on a CPU (give --peak_tflops for a nominal figure)"


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return (f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s), "
            f"torch {torch.__version__}")


# ---------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu-small", choices=sorted(PRESETS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2, 3], choices=[1, 2, 3])
    parser.add_argument("--batch_size", type=int, default=None,
                        help="Utterances per training step (default: the recipe's, 16 / 8 / 8 for phases 1 / 2 / 3)")
    parser.add_argument("--steps", type=int, default=None, help="Timed training steps per phase (GPU 10, CPU 2)")
    parser.add_argument("--warmup", type=int, default=None, help="Untimed steps first (GPU 3, CPU 1)")
    parser.add_argument("--min_seconds", type=float, default=3.0)
    parser.add_argument("--max_seconds", type=float, default=8.0)
    parser.add_argument("--decode_tokens", type=int, default=25, help="New tokens per decoded utterance")
    parser.add_argument("--decode_utts_b1", type=int, default=8, help="Utterances decoded one at a time")
    parser.add_argument("--decode_batch", type=int, default=32, help="The large decoding batch")
    parser.add_argument("--gradient_checkpointing", action="store_true", help="Of the encoder and the LLM")
    parser.add_argument("--peak_tflops", type=float, default=None, help="The device's peak, for MFU")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on a CPU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="Also write the figures here")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 leftovers (losses, norms) on tensor cores
    gpu = device.type == "cuda"
    steps = args.steps or (10 if gpu else 2)
    warmup = args.warmup if args.warmup is not None else (3 if gpu else 1)
    preset = PRESETS[args.preset]
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    prompt = prompt_token_counts()
    vocab = preset["llm"]["vocab_size"]
    peak, peak_text = device_peak_tflops(device, args.peak_tflops)

    t0 = time.perf_counter()
    model = build_model(preset, device, args.gradient_checkpointing)
    flops = FlopModel.of(model)
    params = {k: sum(p.numel() for p in getattr(model, k).parameters()) for k in ("encoder", "adapter", "llm")}
    print(f"bench_throughput {args.preset} on {describe_device(device)}; "
          f"model built in {time.perf_counter() - t0:.1f} s: "
          f"encoder {params['encoder'] / 1e6:.1f}M, adapter {params['adapter'] / 1e6:.1f}M, LLM "
          f"{params['llm'] / 1e6:.1f}M ({next(model.llm.parameters()).dtype}); prompt {prompt[0]}+{prompt[1]} tokens, "
          f"utterances {args.min_seconds:g}-{args.max_seconds:g} s, targets 15-30 tokens; peak {peak_text}")

    window = whisper_window_cost(model, device, rng, gen)
    print(f"Whisper's 30 s window vs the audio's own length (batch of {window['batch']} utterances of 3-6 s, "
          f"encoder forward): {window['window_s'] * 1e3:.1f} ms vs {window['cut_s'] * 1e3:.1f} ms "
          f"({window['window_cost']:.1f}x); outputs change by {window['relative_output_change']:.3f} (relative L2)")

    decode_examples_b1 = draw_examples(args.decode_utts_b1, rng, args.min_seconds, args.max_seconds)
    decode_examples_b32 = draw_examples(args.decode_batch, rng, args.min_seconds, args.max_seconds)
    results: List[PhaseResult] = []
    for phase in sorted(args.phases):
        if phase == 3:
            add_phase3_lora(model, preset["lora"])
            flops = FlopModel.of(model)
        batch_size = args.batch_size or RECIPE_BATCH[phase]
        batches = sorted_batches(draw_examples(batch_size * (steps + warmup), rng, args.min_seconds,
                                               args.max_seconds), batch_size, rng)
        result = train_phase(model, phase, batches, warmup, args, device, prompt, vocab, flops, gen)
        result.rtfx_b1 = decode_rtfx(model, decode_examples_b1, 1, args.decode_tokens, device, prompt, vocab, gen)
        result.rtfx_b32 = decode_rtfx(model, decode_examples_b32, args.decode_batch, args.decode_tokens, device, prompt,
                                      vocab, gen)
        results.append(result)
        mfu = f"{result.tflops / peak:.1%}" if peak else "n/a"
        print(f"phase {phase}: trains {', '.join(PHASE_GROUPS[phase])} ({result.trainable / 1e6:.1f}M), batch "
              f"{result.batch_size}: {result.step_seconds * 1e3:.0f} ms/step, {result.audio_h_per_device_h:.1f} "
              f"audio h per device h, {result.tokens_per_s:.0f} LLM positions/s, {result.tflops:.3g} TFLOP/s (encoder "
              f"{result.flops_per_step['encoder'] / 1e12:.3g} + adapter {result.flops_per_step['adapter'] / 1e12:.3g} "
              f"+ LLM {result.flops_per_step['llm'] / 1e12:.3g} TFLOP/step), MFU {mfu}, peak memory "
              f"{result.peak_mem_gb:.2f} GB; decoding {args.decode_tokens} tokens: RTFx {result.rtfx_b1:.1f} at "
              f"batch 1, {result.rtfx_b32:.1f} at batch {args.decode_batch}")
    print(flops.formula())
    print(f"MFU = model FLOPs per step / step time / device peak ({peak_text}); memory: "
          + ("torch.cuda.max_memory_allocated per phase" if gpu else "peak RSS of the process so far"))
    if args.json:
        summary = {
            "preset": args.preset, "device": describe_device(device), "args": vars(args), "peak_tflops": peak,
            "whisper_window": window, "phases": [dict(r.__dict__, audio_h_per_device_h=r.audio_h_per_device_h,
                                                      tokens_per_s=r.tokens_per_s, tflops=r.tflops) for r in results]}
        Path(args.json).write_text(json.dumps(summary, indent=1))
    for r in results:
        mfu = f"{r.tflops / peak:.3f}" if peak else "n/a"
        print(f"bench_throughput: preset={args.preset} stage={r.phase} "
              f"audio_h_per_device_h={r.audio_h_per_device_h:.1f} tokens_per_s={r.tokens_per_s:.0f} mfu={mfu} "
              f"peak_mem_gb={r.peak_mem_gb:.2f} rtfx_b1={r.rtfx_b1:.1f} rtfx_b32={r.rtfx_b32:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
