"""Load a trained PART experiment dir and turn speech (or text) into text.

Python API::

    from part.inference import SpeechToText
    s2t = SpeechToText.from_exp_dir("exp/part/phase3", prompts="conf/prompts.yaml")
    s2t.transcribe(waveform_16k, lang="de")             # ASR: a float array in [-1, 1], or a wav path
    s2t.translate(waveform_16k, src="de", tgt="en")     # speech translation
    s2t.translate_text("Guten Morgen.", src="de", tgt="en")  # text translation (the mt task)

    # decoding options (see DecodeOptions) are keyword arguments of from_exp_dir / the constructor:
    s2t = SpeechToText.from_exp_dir("exp/part/phase3", prompts="conf/prompts.yaml", beam_size=4)

The model is rebuilt from the experiment's ``config.yaml`` (the resolved options ESPnet wrote) and the
chosen model file; the frozen base LLM is re-read from its directory. Relative paths in the config
(``llm_path exp/llm``, as the recipes write them) are resolved from the working directory first, then
from the directories above the experiment dir (the recipe dir), so the API works from anywhere.

Features are computed exactly as stage 2 computes them (``part.bin.extract_feats.compute_fbank``:
Kaldi fbank, or Whisper's log-mel for a Whisper encoder). Decoding is the model's batched greedy or
beam search (:meth:`part.model.speech_llm.SpeechLLM.generate`); a result never depends on the other
examples of its batch.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import yaml

from part.data.examples import load_prompts, render


@dataclass
class DecodeOptions:
    """Search options of :meth:`SpeechLLM.generate` (the ``part_inference`` flags of the same names)."""

    max_new_tokens: int = 128  # length limit of a hypothesis, in tokens
    max_length_ratio: float = 0.0  # > 0: also at most ratio x the example's LLM input length (prompt + speech)
    max_repeat_ngram: int = 4  # looping guard: stop when the last n-gram (n <= 4) repeated this often; 0: off
    beam_size: int = 1  # 1: greedy search
    length_penalty: float = 1.0  # beam search ranks by log P / length ** length_penalty (0: plain log P)
    min_new_tokens: int = 0  # forbid stopping (EOS, tags) before this many tokens (benchmarks)
    batch_encoder: bool = False  # encode a batch's speech at once: faster on GPUs, but batch-dependent (generate)

    def generate_kwargs(self) -> Dict[str, object]:
        return asdict(self)


def _resolve_path(value: Optional[str], exp_dir: Path) -> Optional[str]:
    """A path from config.yaml: as is if it exists, else relative to a directory above ``exp_dir``."""
    if not value or Path(value).is_absolute() or Path(value).exists():
        return value
    for parent in exp_dir.resolve().parents:
        if (parent / value).exists():
            return str(parent / value)
    return value


def load_model(exp_dir: str, model_file: str = "valid.acc.ave.pth", device: str = "cpu",
               llm_path: Optional[str] = None):
    """Rebuild the model of ``exp_dir`` and load ``model_file``; returns ``(model, tokenizer, config)``.

    ``llm_path`` overrides the LLM directory named in the config (a moved or copied LLM).
    """
    from part.model.llm import load_tokenizer
    from part.tasks.part_task import PARTTask

    exp = Path(exp_dir)
    config_file = exp / "config.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} not found: is '{exp_dir}' a trained experiment dir?")
    with config_file.open(encoding="utf-8") as f:
        config = yaml.safe_load(f)
    if not isinstance(config, dict) or "llm_path" not in config:
        raise ValueError(f"{config_file} is not the config.yaml of a PART training phase (no llm_path)")
    if config.get("model_type", "speech_llm") != "speech_llm":
        raise ValueError(f"{exp_dir} holds a {config['model_type']} model, not a speech-LLM: nothing to decode")
    config["llm_path"] = llm_path or _resolve_path(config["llm_path"], exp)
    config["tokenizer_path"] = _resolve_path(config.get("tokenizer_path"), exp)
    encoder_conf = dict(config.get("encoder_conf") or {})
    stats = encoder_conf.get("stats_file")
    if stats and not Path(_resolve_path(stats, exp)).is_file():
        encoder_conf.pop("stats_file")  # the normalisation statistics are buffers inside the checkpoint
    elif stats:
        encoder_conf["stats_file"] = _resolve_path(stats, exp)
    config["encoder_conf"] = encoder_conf
    args = argparse.Namespace(**config)
    args.encoder_path = None  # the trained weights below replace the pretrained encoder
    path = exp / model_file
    if not path.exists():
        candidates = sorted(p.name for p in exp.glob("*.pth"))
        raise FileNotFoundError(f"{path} not found; model files in {exp}: {candidates}")
    model = PARTTask.build_model(args)
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
                # np.array copies: kaldiio may hand out read-only arrays
                self.speech[i, : s.shape[0]] = torch.from_numpy(np.array(s, dtype=np.float32))
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
    """A rendered prompt (newlines escaped as ``\\n``) -> token ids before and after ``<speech>``."""
    before, _, after = prompt.replace("\\n", "\n").partition("<speech>")
    return (tokenizer.encode(before, add_special_tokens=False), tokenizer.encode(after, add_special_tokens=False))


Waveform = Union[np.ndarray, Sequence[float], str, Path]


class SpeechToText:
    """A trained PART model with its tokenizer, prompt templates and decoding options.

    Args:
        model: a :class:`~part.model.speech_llm.SpeechLLM` (in eval mode).
        tokenizer: the LLM's tokenizer.
        prompts: the prompt templates (``conf/prompts.yaml`` of the recipe, or the dict it holds); only
            needed by :meth:`transcribe`, :meth:`translate` and :meth:`translate_text`.
        num_mel_bins: feature dimension (``input_size`` of the config).
        feature_type: ``fbank`` or ``whisper`` (the encoder's front end).
        **options: :class:`DecodeOptions` fields (``beam_size``, ``max_new_tokens``, ...).
    """

    def __init__(self, model, tokenizer, prompts: Union[None, str, Dict[str, str]] = None, num_mel_bins: int = 80,
                 device: str = "cpu", feature_type: str = "fbank", **options):
        self.model, self.tokenizer = model, tokenizer
        self.prompts = load_prompts(prompts) if isinstance(prompts, (str, Path)) else dict(prompts or {})
        self.num_mel_bins, self.device, self.feature_type = num_mel_bins, device, feature_type
        self.options = DecodeOptions(**options)
        self.stop_ids = stop_token_ids(tokenizer)

    @classmethod
    def from_exp_dir(cls, exp_dir: str, prompts: Union[None, str, Dict[str, str]] = None,
                     model_file: str = "valid.acc.ave.pth", device: str = "cpu", llm_path: Optional[str] = None,
                     **options) -> "SpeechToText":
        """Load ``exp_dir/model_file`` (a phase dir of a recipe: ``exp/part/phase3``).

        ``prompts``: the recipe's prompt templates (``conf/prompts.yaml``) or a dict; ``options``:
        :class:`DecodeOptions` fields.
        """
        model, tokenizer, config = load_model(exp_dir, model_file, device, llm_path=llm_path)
        feature_type = "whisper" if config.get("encoder") == "whisper" else "fbank"
        return cls(model, tokenizer, prompts, num_mel_bins=config.get("input_size", 80), device=device,
                   feature_type=feature_type, **options)

    # ------------------------------------------------------------------ front end
    def features(self, waveform: Waveform, sample_rate: int = 16000) -> np.ndarray:
        """Stage 2's features of a waveform (float samples in [-1, 1], any rate) or a wav file."""
        from part.bin.extract_feats import FbankOptions, compute_fbank
        from part.data.audio import read_audio, resample

        if isinstance(waveform, (str, Path)):
            samples = read_audio(str(waveform), sample_rate=16000, policy="resample")
        else:
            samples = np.asarray(waveform, dtype=np.float32)
            if samples.ndim != 1:
                raise ValueError(f"expected a mono waveform (1-D array), got shape {samples.shape}")
            samples = resample(samples, sample_rate, 16000)
        opts = FbankOptions(num_mel_bins=self.num_mel_bins, feature_type=self.feature_type)
        if len(samples) < opts.window_samples:
            raise ValueError(f"waveform of {len(samples)} samples is shorter than one 25 ms frame")
        return compute_fbank(samples, opts)

    # ------------------------------------------------------------------ decoding
    def decode_features(self, feats: Sequence[np.ndarray], prompts: Sequence[str]) -> List[str]:
        """Decode a batch of feature matrices (zero frames for text-only examples) with their rendered
        prompts (as in ``dump/examples/<set>/prompt``); returns one text per example."""
        return [self.tokenizer.decode(h, skip_special_tokens=True).strip()
                for h in self.decode_ids(feats, prompts)]

    def decode_ids(self, feats: Sequence[np.ndarray], prompts: Sequence[str], return_scores: bool = False):
        """Like :meth:`decode_features`, but the generated token ids (and with ``return_scores`` their
        total log-probabilities)."""
        if len(feats) != len(prompts):
            raise ValueError(f"{len(feats)} feature matrices but {len(prompts)} prompts")
        parts = [split_prompt(self.tokenizer, p) for p in prompts]
        batch = Batch([np.asarray(f) for f in feats], [p[0] for p in parts], [p[1] for p in parts], self.num_mel_bins)
        return self.model.generate(**batch.as_kwargs(self.device), stop_ids=self.stop_ids, return_scores=return_scores,
                                   **self.options.generate_kwargs())

    def _template(self, task: str) -> str:
        if task not in self.prompts:
            raise ValueError(f"no '{task}' prompt template: pass prompts= (the recipe's conf/prompts.yaml) "
                             f"with a '{task}' entry")
        return self.prompts[task]

    def transcribe(self, waveform: Waveform, lang: str, sample_rate: int = 16000) -> str:
        """Speech recognition of one utterance in language ``lang``."""
        prompt = render(self._template("asr"), lang, lang)
        return self.decode_features([self.features(waveform, sample_rate)], [prompt])[0]

    def translate(self, waveform: Waveform, src: str, tgt: str, sample_rate: int = 16000) -> str:
        """Speech translation of one utterance from language ``src`` into ``tgt``."""
        prompt = render(self._template("s2tt"), src, tgt)
        return self.decode_features([self.features(waveform, sample_rate)], [prompt])[0]

    def translate_text(self, text: str, src: str, tgt: str) -> str:
        """Text translation (the text-only ``mt`` task) from ``src`` into ``tgt``."""
        prompt = render(self._template("mt"), src, tgt, text)
        return self.decode_features([np.zeros((0, self.num_mel_bins), np.float32)], [prompt])[0]

