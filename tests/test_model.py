"""The model pieces: encoder and adapter registries (shapes, lengths, stride math, padding), the
speech-LLM's loss masking and text-only examples, batched greedy decoding, and LoRA checkpoints."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers_tiny import FEAT_DIM, TINY_ADAPTERS, TINY_CONFORMER, TINY_WHISPER, build_tiny_speech_llm, pad_ids, \
    shared_tiny_llm
from part.model.adapters import ADAPTERS, build_adapter
from part.model.encoders import ENCODERS, EncoderOutput, build_encoder
from part.model.search import is_looping
from part.model.speech_llm import IGNORE
from part.schedule import apply_trainable

LLM_DIM = 32


def conformer_frames(n: int) -> int:
    """Output frames of ESPnet's conv2d subsampling (two 3x3 convolutions with stride 2)."""
    return ((n - 1) // 2 - 1) // 2


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    return shared_tiny_llm(tmp_path_factory)


# ---------------------------------------------------------------------------------------- encoders
def test_registries_hold_the_documented_entries():
    assert {"conformer", "whisper"} <= set(ENCODERS)
    assert {"transformer_cnn", "linear", "conv1d", "ctc_posterior"} <= set(ADAPTERS)
    with pytest.raises(ValueError, match="unknown encoder 'nope'.*conformer"):
        build_encoder("nope", FEAT_DIM, {})
    with pytest.raises(ValueError, match="unknown adapter 'nope'.*linear"):
        build_adapter("nope", 8, 8, {})


def test_conformer_shapes_lengths_blocks_and_ctc_head():
    torch.manual_seed(0)
    enc = build_encoder("conformer", FEAT_DIM, TINY_CONFORMER, ctc_vocab_size=50).eval()
    assert enc.output_size == 32
    assert len(enc.blocks()) == TINY_CONFORMER["num_blocks"]
    assert enc.tail_modules() == [enc.conformer.after_norm]
    with torch.no_grad():
        for n in (40, 53, 64):  # one utterance at a time: exact subsampling arithmetic
            out = enc(torch.randn(1, n, FEAT_DIM), torch.tensor([n]))
            assert out.hidden.shape == (1, conformer_frames(n), 32)
            assert out.lengths.tolist() == [conformer_frames(n)]
            assert out.ctc_logits.shape == (1, conformer_frames(n), 51)  # 50 tokens + blank
        feats = torch.randn(3, 64, FEAT_DIM)
        out = enc(feats, torch.tensor([64, 50, 41]))
    assert out.hidden.shape == (3, conformer_frames(64), 32)
    assert out.lengths.tolist() == [conformer_frames(n) for n in (64, 50, 41)]  # each its own, not the padded one's
    assert torch.isfinite(out.hidden).all()
    # What the collate leaves in padded frames does not matter (they are zero after CMVN).
    garbage = feats.clone()
    garbage[1, 50:] = 7.0
    garbage[2, 41:] = -3.0
    with torch.no_grad():
        again = enc(garbage, torch.tensor([64, 50, 41]))
    assert torch.equal(again.lengths, out.lengths)
    assert torch.allclose(again.hidden, out.hidden, atol=1e-5)


def test_conformer_global_cmvn_from_stats(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(500, FEAT_DIM))
    np.savez(tmp_path / "stats.npz", count=np.array(500), sum=data.sum(0), sum_square=(data ** 2).sum(0))
    enc = build_encoder("conformer", FEAT_DIM, dict(TINY_CONFORMER, stats_file=str(tmp_path / "stats.npz")))
    normed = enc.normalize(torch.from_numpy(data).float())
    assert torch.allclose(normed.mean(0), torch.zeros(FEAT_DIM), atol=1e-4)
    assert torch.allclose(normed.std(0, unbiased=False), torch.ones(FEAT_DIM), atol=1e-3)
    state = enc.state_dict()
    assert "normalize.mean" in state and "normalize.std" in state  # the statistics travel in checkpoints
    with pytest.raises(ValueError, match="dimension 80, features 40"):
        build_encoder("conformer", 40, dict(TINY_CONFORMER, stats_file=str(tmp_path / "stats.npz")))


def test_whisper_encoder_shapes_lengths_and_padding():
    torch.manual_seed(0)
    enc = build_encoder("whisper", FEAT_DIM, dict(config=TINY_WHISPER)).eval()
    assert enc.output_size == 32 and len(enc.blocks()) == 2
    assert enc.window == 200
    feats = torch.randn(2, 53, FEAT_DIM)
    feats[1, 37:] = 0.0  # collate pads with zeros
    lengths = torch.tensor([53, 37])
    with torch.no_grad():
        out = enc(feats, lengths)
        alone = enc(feats[1:, :37], lengths[1:])
    assert out.lengths.tolist() == [27, 19]  # (n + 1) // 2: one stride-2 convolution
    assert out.hidden.shape == (2, 27, 32)
    assert alone.hidden.shape == (1, 19, 32)
    assert torch.allclose(out.hidden[1, :19], alone.hidden[0], atol=1e-5)
    with pytest.raises(ValueError, match="exceeds Whisper's 200-frame window"):
        enc(torch.randn(1, 201, FEAT_DIM), torch.tensor([201]))
    with pytest.raises(ValueError, match="expects 80 mel bins, features have 128"):
        build_encoder("whisper", 128, dict(config=TINY_WHISPER))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_encoder("whisper", FEAT_DIM, dict(path="/nonexistent/whisper"))


# ---------------------------------------------------------------------------------------- adapters
@pytest.mark.parametrize("name", ["transformer_cnn", "linear", "conv1d"])
@pytest.mark.parametrize("stride", [2, 3])
def test_strided_adapter_shapes_lengths_and_padding(name, stride):
    torch.manual_seed(0)
    conf = dict(TINY_ADAPTERS[name], stride=stride)
    adapter = build_adapter(name, 24, LLM_DIM, conf).eval()
    lengths = torch.tensor([11, 7, 1])
    hidden = torch.randn(3, 11, 24)
    hidden[1, 7:] = 1e3  # what an encoder leaves at padded positions is arbitrary
    hidden[2, 1:] = -1e3
    with torch.no_grad():
        emb, emb_len = adapter(EncoderOutput(hidden, lengths), None)
        assert emb.shape == (3, math.ceil(11 / stride), LLM_DIM)
        assert emb_len.tolist() == [math.ceil(n / stride) for n in lengths.tolist()]
        for i, n in enumerate(lengths.tolist()):
            alone, alone_len = adapter(EncoderOutput(hidden[i:i + 1, :n], lengths[i:i + 1]), None)
            assert alone_len.tolist() == [emb_len[i].item()]
            k = emb_len[i].item()
            # The valid outputs do not depend on the padding or on the rest of the batch.
            assert torch.allclose(emb[i, :k], alone[0], atol=1e-5), (name, i)
    # Gradients reach every adapter parameter.
    adapter.train()
    emb, _ = adapter(EncoderOutput(hidden.clamp(-3, 3), lengths), None)
    emb.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in adapter.parameters())


def _ctc_logits(label_rows, vocab: int, sharp: float = 8.0):
    """(B, T, V + 1) logits whose best path follows ``label_rows`` (``None`` = blank)."""
    torch.manual_seed(1)
    batch, frames = len(label_rows), max(len(r) for r in label_rows)
    logits = torch.randn(batch, frames, vocab + 1) * 0.5
    for b, row in enumerate(label_rows):
        for t, lab in enumerate(row):
            logits[b, t, vocab if lab is None else lab] += sharp
    return logits


def test_ctc_posterior_adapter_merges_segments_and_starts_as_posterior_embedding():
    torch.manual_seed(0)
    vocab, dim, B = 12, 16, None
    table = nn.Embedding(vocab + 3, dim)  # an LLM table may hold more rows than the CTC vocabulary
    adapter = build_adapter("ctc_posterior", 8, dim, dict(hidden_dim=16))
    rows = [
        [B, 3, 3, B, 5, B, B, 5, 5, B],  # -> segments [3], [5], [5]: a blank separates the two 5s
        [4, 4, 4, B, 7, 7, 7, 7, 7, 7],  # valid length 4 -> [4]; the padded 7s are ignored
        [B, B, B, B, B, B],  # no speech content -> one (zero) vector
    ]
    logits = _ctc_logits(rows, vocab)
    lengths = torch.tensor([10, 4, 6])
    hidden = torch.randn(3, 10, 8)
    out, out_len = adapter(EncoderOutput(hidden, lengths, logits), table)
    assert out_len.tolist() == [3, 1, 1]
    assert out.shape == (3, 3, dim)

    probs = logits.softmax(-1)[..., :vocab]
    probs = probs / probs.sum(-1, keepdim=True)
    segments = {0: [[1, 2], [4], [7, 8]], 1: [[0, 1, 2]]}
    for b, segs in segments.items():
        for s, frames in enumerate(segs):
            expected = probs[b, frames].mean(0) @ table.weight[:vocab]
            assert torch.allclose(out[b, s], expected, atol=1e-5), (b, s)
    assert torch.equal(out[2, 0], torch.zeros(dim))  # all-blank utterance: zero-information vector

    # The correction MLP starts at zero but is a live path: once it is non-zero it moves the output.
    with torch.no_grad():
        adapter.mlp[-1].bias.fill_(0.5)
    moved, _ = adapter(EncoderOutput(hidden, lengths, logits), table)
    assert torch.allclose(moved[0, :3] - out[0, :3], torch.full((3, dim), 0.5), atol=1e-5)

    with pytest.raises(ValueError, match="needs an encoder with a CTC head"):
        adapter(EncoderOutput(hidden, lengths), table)


def test_ctc_posterior_adapter_on_a_real_encoder_ctc_head():
    torch.manual_seed(0)
    enc = build_encoder("conformer", FEAT_DIM, TINY_CONFORMER, ctc_vocab_size=20)
    adapter = build_adapter("ctc_posterior", enc.output_size, LLM_DIM, dict(hidden_dim=16))
    table = nn.Embedding(20, LLM_DIM)
    out, lengths = adapter(enc(torch.randn(2, 60, FEAT_DIM), torch.tensor([60, 45])), table)
    assert out.shape[0] == 2 and out.shape[2] == LLM_DIM
    assert bool((lengths >= 1).all()) and int(lengths.max()) == out.shape[1]
    assert int(lengths.max()) <= conformer_frames(60)


# ---------------------------------------------------------------------------------------- speech-LLM
def _example(tokenizer, prompt: str, target: str):
    before, _, after = prompt.partition("<speech>")
    enc = lambda s: tokenizer.encode(s, add_special_tokens=False)  # noqa: E731
    return enc(before), enc(after), enc(target)


def _batch(tokenizer, examples, frames, seed=0):
    """Model inputs for examples (prompt, target) with ``frames`` speech frames each (0: text-only)."""
    gen = torch.Generator().manual_seed(seed)
    parts = [_example(tokenizer, p, t) for p, t in examples]
    speech = torch.zeros(len(examples), max(max(frames), 1), FEAT_DIM)
    for i, n in enumerate(frames):
        speech[i, :n] = torch.randn(n, FEAT_DIM, generator=gen)
    prefix, prefix_len = pad_ids([p[0] for p in parts])
    suffix, suffix_len = pad_ids([p[1] for p in parts])
    text, text_len = pad_ids([p[2] for p in parts])
    return dict(speech=speech, speech_lengths=torch.tensor(frames), prefix=prefix, prefix_lengths=prefix_len,
                suffix=suffix, suffix_lengths=suffix_len, text=text, text_lengths=text_len), parts


@pytest.fixture(scope="module")
def speech_llm(llm_dir):
    model, tokenizer = build_tiny_speech_llm(llm_dir, adapter="linear")
    return model.eval(), tokenizer


ASR_DE = ("<speech><|de|><|transcribe|>", "die katze sass auf der matte")
S2TT = ("<speech><|de|><|translate|><|en|>", "the cat sat on the mat")
MT = ("ein hund rennt im park<|de|><|translate|><|en|>", "a dog runs in the park")


def test_labels_mask_prompt_and_speech_and_carry_target_and_eos(speech_llm):
    model, tok = speech_llm
    batch, parts = _batch(tok, [ASR_DE, S2TT], frames=[40, 64])
    inputs, mask, labels = model.build_inputs(batch["speech"], batch["speech_lengths"], batch["prefix"],
                                              batch["prefix_lengths"], batch["suffix"], batch["suffix_lengths"],
                                              batch["text"], batch["text_lengths"])
    n_speech = [math.ceil(conformer_frames(n) / 2) for n in (40, 64)]  # conformer, then the stride-2 adapter
    embed = model.token_embedding.weight
    for i, (pre, suf, tgt) in enumerate(parts):
        n_prompt = len(pre) + n_speech[i] + len(suf)
        total = n_prompt + len(tgt) + 1
        assert mask[i].tolist() == [1] * total + [0] * (mask.size(1) - total)
        assert labels[i, :n_prompt].eq(IGNORE).all()
        assert labels[i, n_prompt:total].tolist() == tgt + [tok.eos_token_id]
        assert labels[i, total:].eq(IGNORE).all()
        assert torch.equal(inputs[i, : len(pre)], embed[pre])
        assert torch.equal(inputs[i, len(pre) + n_speech[i]: n_prompt], embed[suf])
        assert torch.equal(inputs[i, n_prompt:total - 1], embed[tgt])
    with torch.no_grad():
        speech_vectors, speech_len = model.embed_speech(batch["speech"], batch["speech_lengths"])
    assert speech_len.tolist() == n_speech
    for i, (pre, _, _) in enumerate(parts):  # the adapter's vectors sit between prefix and suffix
        assert torch.allclose(inputs[i, len(pre):len(pre) + n_speech[i]], speech_vectors[i, :n_speech[i]], atol=1e-6)


def test_loss_covers_only_target_and_eos(speech_llm):
    model, tok = speech_llm
    batch, parts = _batch(tok, [ASR_DE, MT], frames=[48, 0])
    captured = {}

    def keep_logits(module, args, output):
        output.logits.retain_grad()
        captured["logits"] = output.logits

    handle = model.llm.register_forward_hook(keep_logits)
    try:
        apply_trainable(model, ["adapter"])
        loss, stats, weight = model(**batch)
        loss.backward()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
    _, mask, labels = model.build_inputs(**{k: v for k, v in batch.items() if k not in ("text", "text_lengths")},
                                         text=batch["text"], text_lengths=batch["text_lengths"])
    logits = captured["logits"]
    # The loss is the mean NLL of exactly the labelled positions (target tokens + EOS).
    predicted_from = labels[:, 1:] != IGNORE
    manual = nn.functional.cross_entropy(logits[:, :-1][predicted_from], labels[:, 1:][predicted_from])
    assert torch.allclose(loss, manual, atol=1e-6)
    assert predicted_from.sum() == sum(len(p[2]) + 1 for p in parts)
    assert weight.item() == 2 and set(stats) == {"loss", "acc"}
    # d loss / d logits is zero wherever a prompt, speech or padding position would be predicted.
    grad_norm = logits.grad[:, :-1].abs().sum(-1)
    assert grad_norm[~predicted_from].eq(0).all()
    assert grad_norm[predicted_from].gt(0).all()


def test_prompt_changes_loss_only_through_conditioning_and_target_changes_it(speech_llm):
    model, tok = speech_llm
    batch, _ = _batch(tok, [ASR_DE], frames=[48])
    with torch.no_grad():
        base = model(**batch)[0]
        # Another prompt token: the labels stay the same, the conditioning (and so the loss) changes.
        other_prompt = dict(batch, suffix=batch["suffix"].clone())
        other_prompt["suffix"][0, 0] = tok.convert_tokens_to_ids("<|en|>")
        changed_prompt = model(**other_prompt)[0]
        # Another target token changes the loss.
        other_target = dict(batch, text=batch["text"].clone())
        other_target["text"][0, 2] = (other_target["text"][0, 2] + 1) % len(tok)
        changed_target = model(**other_target)[0]
        same = model(**batch)[0]
    args = lambda b: (b["speech"], b["speech_lengths"], b["prefix"], b["prefix_lengths"],  # noqa: E731
                      b["suffix"], b["suffix_lengths"], b["text"], b["text_lengths"])
    with torch.no_grad():
        labels_a = model.build_inputs(*args(batch))[2]
        labels_b = model.build_inputs(*args(other_prompt))[2]
    assert torch.equal(labels_a, labels_b)
    assert torch.equal(base, same)
    assert not torch.isclose(base, changed_prompt)
    assert not torch.isclose(base, changed_target)


def test_text_only_examples_mix_with_speech_examples(speech_llm):
    model, tok = speech_llm
    # Speech of different lengths around a text-only row (which is dropped before the encoder runs): the
    # encoder is batch-exact, so each example's loss is the one it has alone.
    frames_per_example = [40, 0, 27]
    batch, parts = _batch(tok, [ASR_DE, MT, S2TT], frames=frames_per_example)
    with torch.no_grad():
        mixed = model(**batch)[0]
        singles = []
        for i, frames in enumerate(frames_per_example):
            one, _ = _batch(tok, [[ASR_DE, MT, S2TT][i]], frames=[frames])
            one["speech"][0, :frames] = batch["speech"][i, :frames]
            singles.append(model(**one)[0])
    counts = torch.tensor([len(p[2]) + 1 for p in parts], dtype=torch.float)
    # Mean over all target tokens of the batch = token-weighted mean of the per-example losses.
    assert torch.allclose(mixed, (torch.stack(singles) * counts).sum() / counts.sum(), atol=1e-5)
    assert torch.isfinite(mixed)

    # Gradients: the speech examples reach the adapter; the text-only example alone does not.
    apply_trainable(model, ["adapter"])
    try:
        model(**batch)[0].backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.adapter.parameters())
        model.zero_grad(set_to_none=True)
        text_only, _ = _batch(tok, [MT], frames=[0])
        loss = model(**text_only)[0]
        loss.backward()  # a batch that reaches no trainable parameter must not break training
        assert torch.isfinite(loss)
        assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.adapter.parameters())
    finally:
        model.zero_grad(set_to_none=True)


def _manual_greedy(model, batch, steps):
    """Greedy decoding by re-running the whole sequence (no KV cache), one example at a time."""
    hyps = []
    for i in range(batch["speech"].size(0)):
        n = int(batch["speech_lengths"][i])
        one = {k: batch[k][i:i + 1] for k in ("prefix", "prefix_lengths", "suffix", "suffix_lengths")}
        inputs, _, _ = model.build_inputs(batch["speech"][i:i + 1, : max(n, 1)], batch["speech_lengths"][i:i + 1],
                                          **one)
        out = []
        for _ in range(steps):
            logits = model.llm(inputs_embeds=inputs).logits[0, -1]
            t = int(logits.argmax())
            if t == model.eos_id:
                break
            out.append(t)
            inputs = torch.cat([inputs, model.token_embedding.weight[t][None, None]], dim=1)
        hyps.append(out)
    return hyps


def test_batched_cached_greedy_decoding_matches_unbatched_recomputation(speech_llm):
    model, tok = speech_llm
    batch, _ = _batch(tok, [ASR_DE, MT, S2TT], frames=[40, 0, 64], seed=3)
    kwargs = {k: v for k, v in batch.items() if k not in ("text", "text_lengths")}
    hyps = model.generate(**kwargs, max_new_tokens=6)
    with torch.no_grad():
        expected = _manual_greedy(model, kwargs, 6)
    assert hyps == expected
    assert any(len(h) > 0 for h in hyps)
    # A stop id ends the hypothesis before it is emitted.
    first = [h[0] for h in hyps if h]
    stopped = model.generate(**kwargs, max_new_tokens=6, stop_ids=first)
    assert all(h == [] or h[0] not in first for h in stopped)
    assert [h for h in stopped if h] != [h for h in hyps if h] or not first


def test_looping_guard():
    assert is_looping([5, 5, 5, 5], 4)
    assert not is_looping([5, 5, 5], 4)
    assert is_looping([1, 2, 3, 4, 3, 4, 3, 4, 3, 4], 4)
    assert not is_looping([1, 2, 3, 4, 1, 2, 3, 5], 2)


# ---------------------------------------------------------------------------------------- LoRA checkpoints
def _lora_keys(state):
    return sorted(k for k in state if "lora_" in k)


def test_lora_state_dict_round_trip_gives_identical_outputs(llm_dir, tmp_path):
    torch.manual_seed(0)
    model, tok = build_tiny_speech_llm(llm_dir, adapter="linear", lora=True, seed=0)
    model.eval()
    with torch.no_grad():  # "trained" LoRA and adapter: perturbed away from their initial values
        for name, p in model.named_parameters():
            if "lora_" in name or name.startswith("adapter."):
                p.add_(torch.randn_like(p) * 0.2)
    state = model.state_dict()
    assert len(_lora_keys(state)) == 2 * 2 * 2  # (q_proj, v_proj) x 2 layers x (A, B)
    assert not [k for k in state if k.startswith("llm.") and "lora_" not in k]  # no frozen base weights
    assert {k.split(".")[0] for k in state} == {"encoder", "adapter", "llm"}
    torch.save(state, tmp_path / "model.pth")

    batch, _ = _batch(tok, [ASR_DE, MT], frames=[48, 0], seed=5)
    gen_kwargs = {k: v for k, v in batch.items() if k not in ("text", "text_lengths")}
    with torch.no_grad():
        inputs, mask, _ = model.build_inputs(**gen_kwargs)
        logits = model.llm(inputs_embeds=inputs, attention_mask=mask).logits
        loss = model(**batch)[0]
        with model.llm.disable_adapter():
            base_logits = model.llm(inputs_embeds=inputs, attention_mask=mask).logits
    hyps = model.generate(**gen_kwargs, max_new_tokens=5)
    assert not torch.allclose(logits, base_logits, atol=1e-4)  # the LoRA weights matter

    fresh, _ = build_tiny_speech_llm(llm_dir, adapter="linear", lora=True, seed=1)
    fresh.eval()
    with torch.no_grad():
        assert not torch.allclose(fresh(**batch)[0], loss)
    fresh.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True))
    with torch.no_grad():
        inputs2, mask2, _ = fresh.build_inputs(**gen_kwargs)
        assert torch.equal(inputs2, inputs)
        assert torch.equal(fresh.llm(inputs_embeds=inputs2, attention_mask=mask2).logits, logits)
        assert torch.equal(fresh(**batch)[0], loss)
    assert fresh.generate(**gen_kwargs, max_new_tokens=5) == hyps
    for key, value in fresh.state_dict().items():
        assert torch.equal(value, state[key]), key

    # Strict loading names what is missing or foreign (the frozen base weights are not missing).
    incomplete = dict(state)
    del incomplete[_lora_keys(state)[0]]
    with pytest.raises(RuntimeError, match="missing.*lora_"):
        fresh.load_state_dict(incomplete)
    with pytest.raises(RuntimeError, match="unexpected.*bogus"):
        fresh.load_state_dict(dict(state, bogus=torch.zeros(1)))


def test_save_llm_base_keeps_the_base_weights(llm_dir):
    model, _ = build_tiny_speech_llm(llm_dir, adapter="conv1d")
    assert not [k for k in model.state_dict() if k.startswith("llm.")]
    model.save_llm_base = True
    llm_keys = [k for k in model.state_dict() if k.startswith("llm.")]
    assert "llm.model.embed_tokens.weight" in llm_keys and len(llm_keys) > 10


def test_a_bfloat16_llm_keeps_its_dtype_through_the_trainers_float32_cast(tmp_path_factory):
    """ESPnet casts the whole model to --train_dtype; a half-precision LLM must stay half precision
    (memory), LoRA and the speech side float32, and a training step must still reach the adapter."""
    from part.model.speech_llm import SpeechLLM

    llm_dir = shared_tiny_llm(tmp_path_factory)
    model, tok = build_tiny_speech_llm(llm_dir, adapter="linear", lora=True)
    model.llm.to(torch.bfloat16)
    model = SpeechLLM(model.encoder, model.adapter, model.llm, eos_id=model.eos_id, llm_dtype=torch.bfloat16)
    model.to(dtype=torch.float32)  # what ESPnet's main_worker does
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert all(d == torch.bfloat16 for n, d in dtypes.items() if n.startswith("llm.") and "lora_" not in n)
    assert all(d == torch.float32 for n, d in dtypes.items() if not n.startswith("llm.") or "lora_" in n)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("adapter.")
    prefix, prefix_lengths = pad_ids([tok.encode("<|de|>", add_special_tokens=False)] * 2)
    suffix, suffix_lengths = pad_ids([tok.encode("<|transcribe|>", add_special_tokens=False)] * 2)
    text, text_lengths = pad_ids([tok.encode(" Hallo Welt", add_special_tokens=False)] * 2)
    speech = torch.randn(2, 48, FEAT_DIM)
    loss, _, _ = model(speech, torch.tensor([48, 40]), prefix, prefix_lengths, suffix, suffix_lengths,
                       text, text_lengths)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.adapter.parameters())
