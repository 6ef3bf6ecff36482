"""bf16 where it is safe, SDPA attention, and gradient checkpointing of the LLM.

- The decoding autocast helper is off on CPUs by default and can be forced on.
- A training step under bf16 autocast (what ESPnet's ``use_amp`` does on GPUs; emulated here with the
  CPU autocast) keeps the trainable weights, their gradients and the optimizer states in float32 while the
  frozen LLM stays in bfloat16 and its LoRA weights train.
- ``load_llm`` picks SDPA attention unless told otherwise.
- Gradient checkpointing of the LLM gives the same loss and gradients as without.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers_tiny import FEAT_DIM, TINY_ADAPTERS, TINY_CONFORMER, pad_ids, shared_tiny_llm
from part.model.adapters import build_adapter
from part.model.encoders import EncoderOutput, build_encoder
from part.model.llm import add_lora, load_llm, load_tokenizer
from part.model.precision import autocast, bf16_supported
from part.model.speech_llm import SpeechLLM
from part.schedule import apply_trainable


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    return shared_tiny_llm(tmp_path_factory)


def speech_llm(llm_dir, llm_dtype=None, seed=0, **llm_conf):
    """Tiny Conformer + linear adapter + the tiny LLM with LoRA on q/v."""
    tokenizer = load_tokenizer(str(llm_dir))
    torch.manual_seed(seed)  # LoRA's initialisation too
    llm = load_llm(str(llm_dir), dtype=str(llm_dtype or torch.float32).replace("torch.", ""), **llm_conf)
    llm = add_lora(llm, r=4, alpha=8, dropout=0.0)
    encoder = build_encoder("conformer", FEAT_DIM, TINY_CONFORMER)
    adapter = build_adapter("linear", encoder.output_size, llm.get_input_embeddings().weight.size(1),
                            TINY_ADAPTERS["linear"])
    model = SpeechLLM(encoder, adapter, llm, eos_id=tokenizer.eos_token_id,
                      llm_dtype=llm_dtype)
    return model, tokenizer


def training_batch(tokenizer, seed=0):
    gen = torch.Generator().manual_seed(seed)
    enc = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    prefix, prefix_lengths = pad_ids([enc("<|de|>")] * 2)
    suffix, suffix_lengths = pad_ids([enc("<|transcribe|>")] * 2)
    text, text_lengths = pad_ids([enc("die katze sass"), enc("ein hund rennt im park")])
    speech = torch.randn(2, 64, FEAT_DIM, generator=gen)
    speech[1, 48:] = 0.0
    return dict(speech=speech, speech_lengths=torch.tensor([64, 48]), prefix=prefix, prefix_lengths=prefix_lengths,
                suffix=suffix, suffix_lengths=suffix_lengths, text=text, text_lengths=text_lengths)


def test_autocast_is_off_on_cpus_unless_forced():
    a, b = torch.randn(4, 8), torch.randn(8, 4)
    assert not bf16_supported("cpu")
    with autocast("cpu"):
        assert (a @ b).dtype == torch.float32
    with autocast("cpu", enabled=True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), enabled=False):
        assert (a @ b).dtype == torch.float32


def test_decoding_under_forced_autocast_runs_the_llm_in_bf16(llm_dir):
    model, tokenizer = speech_llm(llm_dir)
    model.eval()
    batch = {k: v for k, v in training_batch(tokenizer).items() if k not in ("text", "text_lengths")}
    seen = []
    handle = model.llm.get_base_model().model.layers[0].mlp.down_proj.register_forward_hook(
        lambda module, args, out: seen.append(out.dtype))
    try:
        reference = model.generate(**batch, max_new_tokens=4, min_new_tokens=4)
        with autocast("cpu", enabled=True):
            hyps = model.generate(**batch, max_new_tokens=4, min_new_tokens=4)
    finally:
        handle.remove()
    assert torch.float32 in seen and torch.bfloat16 in seen
    assert [len(h) for h in hyps] == [len(h) for h in reference] == [4, 4]


@pytest.mark.parametrize("name", sorted(TINY_ADAPTERS))
def test_every_adapter_runs_under_bf16_autocast_and_stays_close_to_float32(name):
    """Encoder outputs arrive in bf16 under autocast (its Linear layers and CTC head run in bf16)."""
    torch.manual_seed(0)
    embedding = nn.Embedding(12, 16)
    adapter = build_adapter(name, 24, 16, TINY_ADAPTERS[name]).eval()
    for p in adapter.parameters():  # the zero-initialised output layers would hide a difference
        nn.init.normal_(p, std=0.2)
    hidden, logits = torch.randn(2, 20, 24), 3 * torch.randn(2, 20, 12)
    lengths = torch.tensor([20, 13])
    with torch.no_grad():
        reference, ref_lengths = adapter(EncoderOutput(hidden, lengths, logits), embedding)
        with autocast("cpu", enabled=True):
            out, out_lengths = adapter(EncoderOutput(hidden.bfloat16(), lengths, logits.bfloat16()), embedding)
    assert torch.equal(out_lengths, ref_lengths) and out.shape == reference.shape
    assert torch.isfinite(out.float()).all()
    assert (out.float() - reference).abs().max() <= 0.05 * reference.abs().max() + 0.05


def test_a_bf16_autocast_training_step_keeps_master_weights_and_optimizer_states_in_float32(llm_dir):
    model, tokenizer = speech_llm(llm_dir, llm_dtype=torch.bfloat16)
    model.to(dtype=torch.float32)  # what ESPnet's main_worker does with --train_dtype float32
    apply_trainable(model, ["adapter", "encoder", "llm_lora"])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)  # over all parameters, as ESPnet builds it
    frozen_before = {n: p.detach().clone() for n, p in model.llm.named_parameters() if "lora_" not in n}
    lora_before = {n: p.detach().clone() for n, p in model.llm.named_parameters() if "lora_B" in n}
    batch = training_batch(tokenizer)
    with torch.no_grad():
        reference_loss = model(**batch)[0]
    with autocast("cpu", enabled=True):  # ESPnet's use_amp on a GPU: torch.cuda.amp.autocast(dtype=bfloat16)
        loss = model(**batch)[0]
    loss.backward()
    optimizer.step()

    assert torch.isfinite(loss) and float(loss) == pytest.approx(float(reference_loss), rel=0.05)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable) and any(n.startswith("encoder.") for n in trainable)
    for name, p in trainable.items():
        assert p.dtype == torch.float32, name
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        state = optimizer.state[p]
        assert state["exp_avg"].dtype == state["exp_avg_sq"].dtype == torch.float32, name
    for name, p in model.llm.named_parameters():
        if "lora_" not in name and p.is_floating_point():
            assert p.dtype == torch.bfloat16 and not p.requires_grad, name
            assert torch.equal(p, frozen_before[name]), name
    assert any(not torch.equal(p, lora_before[n]) for n, p in model.llm.named_parameters() if "lora_B" in n)


def test_sdpa_is_the_default_attention_of_the_llm(llm_dir):
    assert load_llm(str(llm_dir)).config._attn_implementation == "sdpa"
    assert load_llm(str(llm_dir), attn_implementation="eager").config._attn_implementation == "eager"


def test_llm_gradient_checkpointing_gives_the_same_loss_and_gradients(llm_dir):
    results = []
    for checkpointing in (False, True):
        model, tokenizer = speech_llm(llm_dir, gradient_checkpointing=checkpointing)
        base = model.llm.get_base_model()  # transformers renamed the property in 5.x
        name = "is_activation_checkpointing" if hasattr(type(base), "is_activation_checkpointing") else \
            "is_gradient_checkpointing"
        assert getattr(base, name) == checkpointing
        apply_trainable(model, ["adapter", "llm_lora"])
        model.train()
        loss = model(**training_batch(tokenizer))[0]
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((loss.detach(), grads))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert set(grads_a) == set(grads_b) and any("lora_" in n for n in grads_a)
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-6), (
            name, float((grads_a[name] - grads_b[name]).abs().max()), float(grads_a[name].abs().max()))
    assert any(float(g.abs().sum()) > 0 for n, g in grads_a.items() if "lora_B" in n)
