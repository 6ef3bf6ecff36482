"""Load a trained PART experiment dir and turn speech (or text) into text.

Python API::

    from part.inference import SpeechToText
    s2t = SpeechToText.from_exp_dir("exp/part/phase3", prompts="conf/prompts.yaml")
    s2t.transcribe(waveform_16k, lang="de")             # ASR: a float array in [-1, 1], or a wav path
    s2t.translate(waveform_16k, src="de", tgt="en")     # speech translation
    s2t.translate_text("Guten Morgen.", src="de", tgt="en")  # text translation (the mt task)

    # decoding options (see DecodeOptions) are keyword arguments of from_exp_dir / the constructor:
    s2t = SpeechToText.from_exp_dir("exp/part/phase3", prompts="conf/prompts.yaml", beam_size=4)

    # an exported model folder (python -m part.bin.export): prompts, front end and decoding defaults inside
    s2t = SpeechToText.from_pretrained("models/part-mini")

From an experiment dir, the model is rebuilt from its ``config.yaml`` (the resolved options ESPnet wrote)
and the chosen model file; the frozen base LLM is re-read from its directory. Relative paths in the config
(``llm_path exp/llm``, as the recipes write them) are resolved from the working directory first, then
from the directories above the experiment dir (the recipe dir), so the API works from anywhere. An
exported folder (:mod:`part.export`) holds everything itself and needs neither the recipe nor ESPnet's
task code (``part.tasks`` is not imported).

Features come from the front end stage 2 and training use (:mod:`part.data.features`: Kaldi fbank,
or Whisper's log-mel for a Whisper encoder). Examples become model inputs through the training input
path (:mod:`part.data.batch`: the task's preprocessor and collate), so prompts are tokenised and padded
exactly as in training. Decoding is the model's batched greedy or beam search
(:meth:`part.model.speech_llm.SpeechLLM.generate`); a result never depends on the other examples of
its batch.
"""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import yaml

from part.data import prompts as prompt_format
from part.data.batch import ExamplePreprocessor, collate
from part.data.features import FeatureOptions, compute_features, num_frames
from part.data.prompts import load_prompts, render


@dataclass
class DecodeOptions:
    """Search options of :meth:`SpeechLLM.generate` (the ``part_inference`` flags of the same names)."""

    max_new_tokens: int = 128  # length limit of a hypothesis, in tokens
    max_length_ratio: float = 0.0  # > 0: also at most ratio x the example's LLM input length (prompt + speech)
    max_repeat_ngram: int = 4  # looping guard: stop when the last n-gram (n <= 4) repeated this often; 0: off
    beam_size: int = 1  # 1: greedy search
    length_penalty: float = 1.0  # beam search ranks by log P / length ** length_penalty (0: plain log P)
    min_new_tokens: int = 0  # forbid stopping (EOS, tags) before this many tokens (benchmarks)
    bf16: str = "auto"  # bf16 autocast: auto (where the device computes it natively: GPUs), true, false

    def generate_kwargs(self) -> Dict[str, object]:
        """The options :meth:`SpeechLLM.generate` takes (all but the precision)."""
        return {k: v for k, v in asdict(self).items() if k != "bf16"}

    def autocast_enabled(self) -> Optional[bool]:
        """``part.model.precision.autocast``'s ``enabled``: None decides by device."""
        return None if self.bf16 == "auto" else self.bf16 == "true"


def add_decode_arguments(parser: argparse.ArgumentParser, defaults: Optional[DecodeOptions] = None,
                         default_help: str = "") -> None:
    """The search options of :class:`DecodeOptions` as command-line flags (``part_inference``, ``transcribe``).

    With ``defaults`` None every flag defaults to None (see :func:`decode_options_from_args`): the
    caller's own defaults (an exported model's) apply to the flags not given; ``default_help`` says so.
    """
    d = defaults or DecodeOptions()
    value = (lambda name: getattr(d, name)) if defaults else (lambda name: None)
    group = parser.add_argument_group("search" + (f" ({default_help})" if default_help else ""))
    group.add_argument("--beam_size", type=int, default=value("beam_size"), help="1: greedy search")
    group.add_argument("--length_penalty", type=float, default=value("length_penalty"),
                       help="Beam search ranks hypotheses by log P / length ** this (0: plain log P)")
    group.add_argument("--max_new_tokens", type=int, default=value("max_new_tokens"),
                       help="Length limit of a hypothesis, in tokens")
    group.add_argument("--max_length_ratio", type=float, default=value("max_length_ratio"),
                       help="> 0: also limit a hypothesis to this ratio x its LLM input length (prompt + speech "
                            "vectors)")
    group.add_argument("--max_repeat_ngram", type=int, default=value("max_repeat_ngram"),
                       help="Looping guard: end a hypothesis whose last n-gram (n <= 4) repeated this many times "
                            "in a row (0: off)")
    group.add_argument("--min_new_tokens", type=int, default=value("min_new_tokens"),
                       help="Do not stop before this many tokens (for benchmarks)")
    group.add_argument("--bf16", choices=("auto", "true", "false"), default=value("bf16"),
                       help="bf16 autocast while decoding: auto (on GPUs that compute bf16 natively; CPUs stay in "
                            "float32), true, false")


def decode_options_from_args(args: argparse.Namespace) -> Dict[str, object]:
    """The :class:`DecodeOptions` fields given on the command line (flags left at None are left out)."""
    found = {f.name: getattr(args, f.name, None) for f in fields(DecodeOptions)}
    return {k: v for k, v in found.items() if v is not None}


def resolve_config_path(value: Optional[str], exp_dir: Path) -> Optional[str]:
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
    from part.model.factory import build_model
    from part.model.llm import load_tokenizer

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
    config["llm_path"] = llm_path or resolve_config_path(config["llm_path"], exp)
    config["tokenizer_path"] = resolve_config_path(config.get("tokenizer_path"), exp)
    encoder_conf = dict(config.get("encoder_conf") or {})
    stats = encoder_conf.get("stats_file")
    if stats and not Path(resolve_config_path(stats, exp)).is_file():
        encoder_conf.pop("stats_file")  # the normalisation statistics are buffers inside the checkpoint
    elif stats:
        encoder_conf["stats_file"] = resolve_config_path(stats, exp)
    config["encoder_conf"] = encoder_conf
    args = argparse.Namespace(**config)
    args.encoder_path = None  # the trained weights below replace the pretrained encoder
    path = exp / model_file
    if not path.exists():
        candidates = sorted(p.name for p in exp.glob("*.pth"))
        raise FileNotFoundError(f"{path} not found; model files in {exp}: {candidates}")
    model = build_model(args)
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


Waveform = Union[np.ndarray, Sequence[float], str, Path]


class SpeechToText:
    """A trained PART model with its tokenizer, prompt templates, front end and decoding options.

    Args:
        model: a :class:`~part.model.speech_llm.SpeechLLM` (in eval mode).
        tokenizer: the LLM's tokenizer.
        prompts: the prompt templates (``conf/prompts.yaml`` of the recipe, or the dict it holds); only
            needed by :meth:`transcribe`, :meth:`translate` and :meth:`translate_text`.
        features: the front end (:class:`~part.data.features.FeatureOptions`; default 80-bin fbank).
        **options: :class:`DecodeOptions` fields (``beam_size``, ``max_new_tokens``, ...).
    """

    def __init__(self, model, tokenizer, prompts: Union[None, str, Dict[str, str]] = None,
                 features: Optional[FeatureOptions] = None, device: str = "cpu", **options):
        self.model, self.tokenizer = model, tokenizer
        self.prompts = load_prompts(prompts) if isinstance(prompts, (str, Path)) else dict(prompts or {})
        self.feature_options = features or FeatureOptions()
        self.device = device
        self.options = DecodeOptions(**options)
        self.stop_ids = stop_token_ids(tokenizer)
        self.preprocess = ExamplePreprocessor(tokenizer=tokenizer, model_type="speech_llm")
        self.config: Optional[dict] = None  # an exported model's config.json (from_pretrained)

    @classmethod
    def from_exp_dir(cls, exp_dir: str, prompts: Union[None, str, Dict[str, str]] = None,
                     model_file: str = "valid.acc.ave.pth", device: str = "cpu", llm_path: Optional[str] = None,
                     **options) -> "SpeechToText":
        """Load ``exp_dir/model_file`` (a phase dir of a recipe: ``exp/part/phase3``).

        ``prompts``: the recipe's prompt templates (``conf/prompts.yaml``) or a dict; ``options``:
        :class:`DecodeOptions` fields.
        """
        model, tokenizer, config = load_model(exp_dir, model_file, device, llm_path=llm_path)
        return cls(model, tokenizer, prompts, features=FeatureOptions.for_model(config), device=device, **options)

    @classmethod
    def from_pretrained(cls, model_dir: str, device: str = "cpu", **options) -> "SpeechToText":
        """Load an exported model folder (``python -m part.bin.export``): its prompt templates, front end and
        decoding defaults come from its config.json; ``options`` (:class:`DecodeOptions` fields) override
        the defaults."""
        from part.export.folder import load_exported

        model, tokenizer, config = load_exported(model_dir, device)
        names = {f.name for f in fields(DecodeOptions)}
        unknown = set(options) - names
        if unknown:
            raise TypeError(f"unknown decoding option(s) {sorted(unknown)}; known: {sorted(names)}")
        decoding = {k: v for k, v in (config.get("decoding") or {}).items() if k in names}
        s2t = cls(model, tokenizer, config["prompts"], features=FeatureOptions.from_conf(config["features"]),
                  device=device, **{**decoding, **options})
        s2t.config = config
        return s2t

    def languages(self, task: str) -> Optional[List[str]]:
        """The languages (ASR) or ``src-tgt`` directions (translation) this model was trained on for
        ``task``, as an exported model records them; None when unknown."""
        found = ((self.config or {}).get("languages") or {})
        return found.get(task) if found else None

    # ------------------------------------------------------------------ front end
    def features(self, waveform: Waveform, sample_rate: int = 16000) -> np.ndarray:
        """The model's features of a waveform (float samples in [-1, 1], any rate) or an audio file."""
        from part.data.audio import read_audio, resample

        opts = self.feature_options
        if isinstance(waveform, (str, Path)):
            samples = read_audio(str(waveform), sample_rate=opts.sample_rate, policy="resample")
        else:
            samples = np.asarray(waveform, dtype=np.float32)
            if samples.ndim != 1:
                raise ValueError(f"expected a mono waveform (1-D array), got shape {samples.shape}")
            samples = resample(samples, sample_rate, opts.sample_rate)
        if num_frames(len(samples), opts) == 0:
            raise ValueError(f"waveform of {len(samples)} samples is shorter than one {opts.frame_length:g} ms frame")
        return compute_features(samples, opts)

    # ------------------------------------------------------------------ decoding
    def decode_examples(self, examples: Sequence[Dict], return_scores: bool = False):
        """Decode a batch of examples in the example-list form that training reads: ``{"speech":
        features (frames, bins), "prompt": the prompt as stored (part.data.prompts.escape)}``.

        Returns the generated token ids per example (and, with ``return_scores``, their total
        log-probabilities); :meth:`to_text` turns ids into text.
        """
        from part.model.precision import autocast

        with autocast(self.device, enabled=self.options.autocast_enabled()):
            return self.model.generate(**self.batch(examples), stop_ids=self.stop_ids, return_scores=return_scores,
                                       **self.options.generate_kwargs())

    def batch(self, examples: Sequence[Dict]) -> Dict[str, torch.Tensor]:
        """The model inputs of examples (see :meth:`decode_examples`), built as training builds them."""
        batch = collate([(str(i), self.preprocess(str(i), ex)) for i, ex in enumerate(examples)])[1]
        return {k: v.to(self.device) for k, v in batch.items()}

    def to_text(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

    def decode_features(self, feats: Sequence[np.ndarray], prompts: Sequence[str]) -> List[str]:
        """Decode feature matrices (zero frames for text-only examples) with their prompts (rendered,
        as :func:`part.data.prompts.render` gives them); returns one text per example."""
        return [self.to_text(h) for h in self.decode_ids(feats, prompts)]

    def decode_ids(self, feats: Sequence[np.ndarray], prompts: Sequence[str], return_scores: bool = False):
        """Like :meth:`decode_features`, but the generated token ids (and with ``return_scores`` their
        total log-probabilities)."""
        if len(feats) != len(prompts):
            raise ValueError(f"{len(feats)} feature matrices but {len(prompts)} prompts")
        examples = [{"speech": np.asarray(f, dtype=np.float32), "prompt": prompt_format.escape(p)}
                    for f, p in zip(feats, prompts)]
        return self.decode_examples(examples, return_scores)

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
        empty = np.zeros((0, self.feature_options.num_mel_bins), np.float32)
        return self.decode_features([empty], [prompt])[0]
