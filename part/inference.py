"""Load a trained PART experiment dir and turn speech into text.

Python API::

    from part.inference import SpeechToText
    s2t = SpeechToText.from_exp_dir("exp/part/stage3", prompts="conf/prompts.yaml")
    s2t.transcribe(waveform_16k, lang="de")            # ASR
    s2t.translate(waveform_16k, src="de", tgt="en")     # speech translation

The model is rebuilt from the experiment's ``config.yaml`` (the resolved options ESPnet wrote) and
the chosen model file; the frozen base LLM is re-read from its directory.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import yaml

from part.data.tasks import load_prompts, render


def load_model(exp_dir: str, model_file: str = "valid.acc.ave.pth", device: str = "cpu"):
    """Rebuild the model of ``exp_dir`` and load ``model_file``; returns ``(model, tokenizer, config)``."""
    from part.model.llm import load_tokenizer
    from part.tasks.part_task import PARTTask

    exp = Path(exp_dir)
    config_file = exp / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} not found: is '{exp_dir}' a trained experiment dir?")
    with config_file.open(encoding="utf-8") as f:
        config = yaml.safe_load(f)
    args = argparse.Namespace(**config)
    args.encoder_path = None  # the trained weights below replace the pretrained encoder
    model = PARTTask.build_model(args)
    path = exp / model_file
    if not path.exists():
        candidates = sorted(p.name for p in exp.glob("*.pth"))
        raise FileNotFoundError(f"{path} not found; model files in {exp}: {candidates}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise RuntimeError(f"cannot read checkpoint {path}: {exc}") from exc
    model.load_state_dict(state)
    model.to(device).eval()
    tokenizer = load_tokenizer(config.get("tokenizer_path") or config["llm_path"],
                               (config.get("llm_conf") or {}).get("gguf_file"))
    return model, tokenizer, config


def stop_token_ids(tokenizer) -> List[int]:
    """Special tokens that end a hypothesis (task and language tags must never be emitted)."""
    ids = set(tokenizer.all_special_ids)
    ids.discard(tokenizer.unk_token_id)
    return sorted(i for i in ids if i is not None)


class Batch:
    """Pads examples (speech features and tokenised prompt parts) into model inputs."""

    def __init__(self, speech: List[np.ndarray], prefixes: List[List[int]], suffixes: List[List[int]], feat_dim: int):
        n = len(speech)
        frames = [s.shape[0] for s in speech]
        self.speech = torch.zeros(n, max(max(frames), 1), feat_dim)
        for i, s in enumerate(speech):
            if s.shape[0]:
                self.speech[i, : s.shape[0]] = torch.from_numpy(np.asarray(s, dtype=np.float32))
        self.speech_lengths = torch.tensor(frames)
        self.prefix, self.prefix_lengths = _pad_ids(prefixes)
        self.suffix, self.suffix_lengths = _pad_ids(suffixes)

    def as_kwargs(self, device="cpu") -> Dict[str, torch.Tensor]:
        return {k: v.to(device) for k, v in dict(
            speech=self.speech, speech_lengths=self.speech_lengths, prefix=self.prefix,
            prefix_lengths=self.prefix_lengths, suffix=self.suffix, suffix_lengths=self.suffix_lengths).items()}


def _pad_ids(seqs: List[List[int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs])
    out = torch.zeros(len(seqs), max(int(lengths.max()), 1), dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out, lengths


def split_prompt(tokenizer, prompt: str) -> Tuple[List[int], List[int]]:
    before, _, after = prompt.replace("\\n", "\n").partition("<speech>")
    return (tokenizer.encode(before, add_special_tokens=False), tokenizer.encode(after, add_special_tokens=False))


class SpeechToText:
    def __init__(self, model, tokenizer, prompts: Dict[str, str], num_mel_bins: int = 80,
                 max_new_tokens: int = 128, device: str = "cpu"):
        self.model, self.tokenizer, self.prompts = model, tokenizer, prompts
        self.num_mel_bins, self.max_new_tokens, self.device = num_mel_bins, max_new_tokens, device
        self.stop_ids = stop_token_ids(tokenizer)

    @classmethod
    def from_exp_dir(cls, exp_dir: str, prompts: str, model_file: str = "valid.acc.ave.pth", device: str = "cpu",
                     **kwargs) -> "SpeechToText":
        model, tokenizer, config = load_model(exp_dir, model_file, device)
        return cls(model, tokenizer, load_prompts(prompts), num_mel_bins=config.get("input_size", 80),
                   device=device, **kwargs)

    def features(self, waveform: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
        from torchaudio.compliance.kaldi import fbank

        wave = torch.as_tensor(np.asarray(waveform, dtype=np.float32))[None]
        if sample_rate != 16000:
            import torchaudio.functional as F

            wave = F.resample(wave, sample_rate, 16000)
        return fbank(wave * 32768.0, num_mel_bins=self.num_mel_bins, dither=0.0,
                     sample_frequency=16000).numpy()

    def decode_features(self, feats: Sequence[np.ndarray], prompts: Sequence[str]) -> List[str]:
        """Greedy decoding of a batch of feature matrices with their rendered prompts."""
        parts = [split_prompt(self.tokenizer, p) for p in prompts]
        batch = Batch(list(feats), [p[0] for p in parts], [p[1] for p in parts], self.num_mel_bins)
        ids = self.model.generate(**batch.as_kwargs(self.device), max_new_tokens=self.max_new_tokens,
                                  stop_ids=self.stop_ids, max_repeat_ngram=4)
        return [self.tokenizer.decode(h, skip_special_tokens=True).strip() for h in ids]

    def transcribe(self, waveform: np.ndarray, lang: str, sample_rate: int = 16000) -> str:
        prompt = render(self.prompts["asr"], lang, lang)
        return self.decode_features([self.features(waveform, sample_rate)], [prompt])[0]

    def translate(self, waveform: np.ndarray, src: str, tgt: str, sample_rate: int = 16000) -> str:
        prompt = render(self.prompts["s2tt"], src, tgt)
        return self.decode_features([self.features(waveform, sample_rate)], [prompt])[0]
