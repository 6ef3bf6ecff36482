"""Exact batched encoding: a batch's padding does not change any utterance's encoder output.

For the Conformer (conv2d subsampling, and low-frame-rate input with a linear input layer) and for the
Whisper encoder (at the batch's length and on the full window), each utterance of a batch of very
different lengths gives the same output and length as when it is encoded alone. Before this was built,
ESPnet's Conformer failed both ways: its conv2d subsampling counted output frames whose receptive field
reaches into the padding, and the depthwise convolution of every convolution module read the padded
frames (by up to 0.1 on the tiny model).

The tests run on the CPU, and also on CUDA when ``PART_TEST_DEVICES`` includes it
(``bench/device_check.sh`` sets ``PART_TEST_DEVICES=cpu,cuda``).
"""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from helpers_tiny import FEAT_DIM, TINY_CONFORMER, TINY_WHISPER, build_tiny_speech_llm, shared_tiny_llm
from part.model.encoders import MaskedBatchNorm1d, _FrameMask, build_encoder

DEVICES = [d for d in os.environ.get("PART_TEST_DEVICES", "cpu").split(",") if d]
EXACT_CONFORMER = dict(TINY_CONFORMER, rel_pos_type="latest")
ENCODERS = {
    "conformer_conv2d": ("conformer", EXACT_CONFORMER),
    "conformer_lfr": ("conformer", dict(EXACT_CONFORMER, input_layer="linear", lfr=[7, 6])),
    "whisper": ("whisper", dict(config=TINY_WHISPER)),
    "whisper_full_window": ("whisper", dict(config=TINY_WHISPER, full_window=True)),
}
LENGTHS = [173, 23, 96, 41]  # very different lengths: the shortest is mostly padding in the batch


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device")
        # cuDNN convolutions default to TF32, whose rounding differs between the batch's and the single
        # utterance's shapes; float32 is what "exact" is measured in.
        torch.backends.cudnn.allow_tf32 = False
    return torch.device(request.param)


def conformer_frames(n: int) -> int:
    """Output frames of ESPnet's conv2d subsampling of an n-frame utterance (two 3x3 convolutions, stride 2)."""
    return ((n - 1) // 2 - 1) // 2


def encode_batch_and_alone(encoder, lengths, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(len(lengths), max(lengths), FEAT_DIM, generator=gen).to(device)
    lens = torch.tensor(lengths, device=device)
    with torch.no_grad():
        batch = encoder(feats, lens)
        alone = [encoder(feats[i:i + 1, :n], lens[i:i + 1]) for i, n in enumerate(lengths)]
    return batch, alone


@pytest.mark.parametrize("name", list(ENCODERS))
def test_each_utterance_of_a_batch_is_encoded_as_if_alone(name, device):
    kind, conf = ENCODERS[name]
    torch.manual_seed(0)
    encoder = build_encoder(kind, FEAT_DIM, conf).to(device).eval()
    assert encoder.batch_exact
    batch, alone = encode_batch_and_alone(encoder, LENGTHS, device)
    for i, out in enumerate(alone):
        n = int(out.lengths[0])
        assert int(batch.lengths[i]) == n, (name, i)
        assert out.hidden.shape[1] == n
        diff = float((batch.hidden[i, :n] - out.hidden[0]).abs().max())
        assert diff < 1e-5, f"{name}: utterance {i} ({LENGTHS[i]} frames) differs by {diff} in the batch"
    assert batch.hidden.shape[1] == int(batch.lengths.max())


def test_conv2d_subsampling_gives_each_utterance_its_own_length():
    encoder = build_encoder("conformer", FEAT_DIM, EXACT_CONFORMER).eval()
    batch, _ = encode_batch_and_alone(encoder, LENGTHS, "cpu")
    # ESPnet's own mask arithmetic gives the padded utterances a frame more (6 instead of 5 for 23 frames),
    # computed from padding.
    assert batch.lengths.tolist() == [conformer_frames(n) for n in LENGTHS]


def test_the_padding_leaks_into_the_convolution_module_without_the_frame_mask():
    """What the frame mask prevents (and what the code before it did): a depthwise convolution that reads
    the padded frames changes the outputs next to the end of every padded utterance."""
    kind, conf = ENCODERS["conformer_lfr"]
    torch.manual_seed(0)
    encoder = build_encoder(kind, FEAT_DIM, conf).eval()
    encoder._frames.applies_to = lambda x: False  # switch the mask off on this instance
    batch, alone = encode_batch_and_alone(encoder, LENGTHS, "cpu")
    worst = max(float((batch.hidden[i, :int(a.lengths[0])] - a.hidden[0]).abs().max()) for i, a in enumerate(alone))
    assert worst > 1e-3


def test_espnet_legacy_relative_positions_are_not_batch_exact():
    encoder = build_encoder("conformer", FEAT_DIM, dict(EXACT_CONFORMER, rel_pos_type="legacy")).eval()
    assert not encoder.batch_exact
    batch, alone = encode_batch_and_alone(encoder, LENGTHS, "cpu")
    worst = max(float((batch.hidden[i, :int(a.lengths[0])] - a.hidden[0]).abs().max()) for i, a in enumerate(alone))
    assert worst > 1e-3  # hence the flag, and the warning that asks for rel_pos_type: latest


def test_masked_batch_norm_takes_training_statistics_from_real_frames_only():
    torch.manual_seed(0)
    reference = nn.BatchNorm1d(6, momentum=0.3)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-0.5, 0.5)
    frames = _FrameMask()
    masked = MaskedBatchNorm1d(reference, frames).train()
    reference.train()
    lengths = torch.tensor([9, 4, 6])
    x = torch.randn(3, 6, 9)
    x[1, :, 4:] = 50.0  # whatever sits in the padding
    x[2, :, 6:] = -50.0

    # Without padding it is plain batch norm (output and running statistics).
    frames.valid = torch.ones(3, 9, dtype=torch.bool)
    out = masked(x)
    assert torch.allclose(out, reference(x), atol=1e-5)
    assert torch.allclose(masked.running_mean, reference.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, reference.running_var, atol=1e-5)

    # With padding: the statistics of the real frames, as if the utterances were concatenated.
    frames.valid = torch.arange(9)[None, :] < lengths[:, None]
    before_mean, before_var = masked.running_mean.clone(), masked.running_var.clone()
    out = masked(x)
    real = torch.cat([x[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)  # (C, 19)
    concatenated = nn.BatchNorm1d(6, momentum=0.3).train()
    concatenated.load_state_dict(reference.state_dict())
    concatenated.running_mean.copy_(before_mean)
    concatenated.running_var.copy_(before_var)
    expected = concatenated(real[None])[0]
    got = torch.cat([out[i, :, :n] for i, n in enumerate(lengths.tolist())], dim=1)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(masked.running_mean, concatenated.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, concatenated.running_var, atol=1e-5)

    # Eval mode uses the running statistics, whatever the mask.
    masked.eval()
    reference.load_state_dict(masked.state_dict())
    reference.eval()
    assert torch.allclose(masked(x), reference(x), atol=1e-6)
    assert set(masked.state_dict()) == set(reference.state_dict())  # checkpoints are interchangeable


def test_whisper_full_window_is_hugging_faces_forward_and_the_cut_is_shorter():
    torch.manual_seed(0)
    window = build_encoder("whisper", FEAT_DIM, dict(config=TINY_WHISPER, full_window=True)).eval()
    cut = build_encoder("whisper", FEAT_DIM, dict(config=TINY_WHISPER)).eval()
    cut.load_state_dict(window.state_dict())
    assert not cut.full_window  # the default
    feats = torch.randn(2, 200, FEAT_DIM)
    feats[1, 120:] = 0.0
    lengths = torch.tensor([200, 120])
    with torch.no_grad():
        ours = window.encode(feats, torch.tensor([200, 200]))[0]
        theirs = window.whisper(feats.transpose(1, 2)).last_hidden_state
        assert torch.equal(ours, theirs)
        short = feats[1:, :120]
        cut_out, cut_len = cut.encode(short, lengths[1:])
        window_out, window_len = window.encode(short, lengths[1:])
    assert cut_len.tolist() == window_len.tolist() == [60]
    assert cut_out.shape == window_out.shape == (1, 60, 32)
    # Different computations (the window attends over 140 padded positions): not equal, same scale.
    assert not torch.allclose(cut_out, window_out, atol=1e-3)
    assert 0.5 < float(cut_out.norm() / window_out.norm()) < 2.0


@pytest.mark.parametrize("name", ["conformer_conv2d", "conformer_lfr", "whisper"])
def test_gradient_checkpointing_gives_the_same_loss_and_gradients(name):
    kind, conf = ENCODERS[name]
    torch.manual_seed(0)
    plain = build_encoder(kind, FEAT_DIM, conf).train()
    checkpointed = build_encoder(kind, FEAT_DIM, dict(conf, gradient_checkpointing=True)).train()
    checkpointed.load_state_dict(plain.state_dict())
    feats = torch.randn(3, 90, FEAT_DIM)
    lengths = torch.tensor([90, 50, 71])
    grads = []
    for encoder in (plain, checkpointed):
        out = encoder(feats, lengths)
        valid = torch.arange(out.hidden.size(1))[None, :] < out.lengths[:, None]
        loss = (out.hidden.pow(2).sum(-1) * valid).sum() / valid.sum()
        loss.backward()
        grads.append((loss.detach(), {n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None}))
    (loss_a, grad_a), (loss_b, grad_b) = grads
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert set(grad_a) == set(grad_b) and len(grad_a) > 10
    for key in grad_a:
        assert torch.allclose(grad_a[key], grad_b[key], atol=1e-5), key
    # Batch norm's running statistics were updated once per forward, not again by the recomputation.
    for (name_a, buf_a), (_, buf_b) in zip(plain.named_buffers(), checkpointed.named_buffers()):
        assert torch.allclose(buf_a.float(), buf_b.float(), atol=1e-6), name_a


@pytest.mark.parametrize("encoder", ["conformer_lfr", "whisper"])
def test_speech_vectors_of_an_utterance_do_not_depend_on_its_batch(tmp_path_factory, encoder, device):
    """Encoder + the paper's adapter (transformer_cnn, attention masked by key padding): what the LLM
    receives for an utterance is the same in any batch."""
    kind, conf = ENCODERS[encoder]
    model, _ = build_tiny_speech_llm(shared_tiny_llm(tmp_path_factory), adapter="transformer_cnn", encoder=kind,
                                     encoder_conf=conf)
    model.to(device).eval()
    gen = torch.Generator().manual_seed(1)
    feats = torch.randn(len(LENGTHS), max(LENGTHS), FEAT_DIM, generator=gen).to(device)
    lengths = torch.tensor(LENGTHS, device=device)
    with torch.no_grad():
        vectors, vector_lengths = model.embed_speech(feats, lengths)
        for i, n in enumerate(LENGTHS):
            alone, alone_len = model.embed_speech(feats[i:i + 1, :n], lengths[i:i + 1])
            k = int(alone_len[0])
            assert int(vector_lengths[i]) == k
            assert torch.allclose(vectors[i, :k], alone[0, :k], atol=1e-5), (encoder, i)
