"""Encoder pretraining model: a speech encoder with a CTC head over the LLM's own token vocabulary.

Used by stage 3 of the embedded recipe to pretrain a small multilingual encoder. CTC on the LLM's
tokens makes the encoder's outputs token-like from the start, which is what lets the adapter align
speech to a tiny LLM quickly (see FEASIBILITY notes in the docs).
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
from torch import nn

from part.model.encoders import SpeechEncoder
from part.scoring.align import edit_distance

try:
    from espnet2.train.abs_espnet_model import AbsESPnetModel
except ImportError:  # pragma: no cover
    AbsESPnetModel = nn.Module


class CTCEncoderModel(AbsESPnetModel):
    def __init__(self, encoder: SpeechEncoder, vocab_size: int):
        super().__init__()
        if encoder.ctc_head is None:
            encoder.add_ctc_head(vocab_size)
        self.encoder = encoder
        self.blank = vocab_size
        self.ctc_loss = nn.CTCLoss(blank=self.blank, reduction="sum", zero_infinity=True)

    def forward(self, speech, speech_lengths, text, text_lengths, **kwargs) -> Tuple[torch.Tensor, Dict, torch.Tensor]:
        enc = self.encoder(speech, speech_lengths)
        log_probs = enc.ctc_logits.float().log_softmax(-1)
        targets = torch.cat([text[i, : text_lengths[i]] for i in range(text.size(0))])
        loss = self.ctc_loss(log_probs.transpose(0, 1), targets, enc.lengths, text_lengths) / text.size(0)
        stats = {"loss": loss.detach()}
        if not self.training:
            errors, total = 0, 0
            for hyp, i in zip(self.greedy(log_probs, enc.lengths), range(text.size(0))):
                ref = text[i, : text_lengths[i]].tolist()
                errors += edit_distance(hyp, ref)
                total += len(ref)
            stats["ter"] = torch.tensor(errors / max(total, 1))
        return loss, stats, torch.tensor(text.size(0), device=loss.device)

    def greedy(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> List[List[int]]:
        """Best-path CTC decoding: merge repeats, drop blanks."""
        best = log_probs.argmax(-1)
        hyps = []
        for i in range(best.size(0)):
            seq, prev = [], None
            for t in best[i, : lengths[i]].tolist():
                if t != prev and t != self.blank:
                    seq.append(t)
                prev = t
            hyps.append(seq)
        return hyps

    def collect_feats(self, speech, speech_lengths, **kwargs):
        return {"feats": speech, "feats_lengths": speech_lengths}
