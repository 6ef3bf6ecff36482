"""From examples to model inputs: the one input path of training, decoding and analysis.

An *example* is a mapping of named arrays or strings, as ESPnet's dataset reads it from an example
list (``dump/examples/<set>/``) or as the streaming loader and the decoder build it:

- ``speech``: features ``(frames, bins)`` float32 (zero frames for a text-only example)
- ``prompt``: the prompt in its stored one-line form (:func:`part.data.prompts.escape`), speech-LLM only
- ``text``: the target text (absent when decoding)

:class:`ExamplePreprocessor` tokenises prompt and target with the LLM's tokenizer (ESPnet's
``preprocess_fn``); :func:`collate` pads a list of preprocessed examples into the keyword arguments
of :meth:`part.model.speech_llm.SpeechLLM.forward` and ``generate`` (ESPnet's ``collate_fn``): every
array ``x`` becomes a padded tensor ``x`` and its lengths ``x_lengths``. ``PARTTask`` hands these two
to ESPnet's trainer, and decoding (``part.inference``) uses the very same objects, so a prompt, its
token boundaries or a pad value cannot differ between training and decoding.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from part.data import prompts as prompt_format

if TYPE_CHECKING:
    import torch

FLOAT_PAD = 0.0
INT_PAD = -1  # token ids: never a real id, and the model clamps it away before embedding


class ExamplePreprocessor:
    """Tokenises the prompt (split around the speech) and the target of an example.

    ``model_type``: ``speech_llm`` (prompt + target) or ``ctc_encoder`` (target only). The tokenizer is
    given, or loaded lazily from ``tokenizer_path`` (data-loader workers each load their own copy).
    """

    def __init__(self, tokenizer_path: Optional[str] = None, gguf_file: Optional[str] = None,
                 model_type: str = "speech_llm", tokenizer=None):
        if tokenizer is None and not tokenizer_path:
            raise ValueError("ExamplePreprocessor needs a tokenizer or a tokenizer_path")
        self.tokenizer_path = tokenizer_path
        self.gguf_file = gguf_file
        self.model_type = model_type
        self._tokenizer = tokenizer

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            from part.model.llm import load_tokenizer

            self._tokenizer = load_tokenizer(self.tokenizer_path, self.gguf_file)
        return self._tokenizer

    def __getstate__(self):  # a worker process loads its own tokenizer rather than unpickling one
        state = dict(self.__dict__)
        if self.tokenizer_path:
            state["_tokenizer"] = None
        return state

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)

    def __call__(self, uid: str, data: Mapping) -> Dict[str, np.ndarray]:
        speech = np.asarray(data["speech"])
        out = {"speech": speech}
        if "text" in data:
            out["text"] = self.encode(data["text"])
            if len(out["text"]) == 0:
                raise ValueError(f"example '{uid}': empty target text")
        if self.model_type == "speech_llm":
            before, after = prompt_format.split(prompt_format.unescape(data["prompt"]))
            has_speech = speech.shape[0] > 0
            if has_speech != (after is not None):
                raise ValueError(
                    f"example '{uid}': the prompt {'lacks' if has_speech else 'has'} the {prompt_format.SPEECH} "
                    f"placeholder but the example {'has' if has_speech else 'has no'} speech")
            out["prefix"] = self.encode(before)
            out["suffix"] = self.encode(after or "")
        return out


def collate(examples: Sequence[Tuple[str, Mapping[str, np.ndarray]]]) -> Tuple[List[str], Dict[str, "torch.Tensor"]]:
    """Pad preprocessed examples into a batch: ``(ids, {name: (B, T, ...), name_lengths: (B,)})``.

    Float arrays are padded with 0.0 (and become float32), integer arrays with -1 (int64). The same
    keys must be in every example. (ESPnet's ``CommonCollateFn`` with these pad values does the same.)
    """
    import torch

    if not examples:
        raise ValueError("collate: empty batch")
    ids = [uid for uid, _ in examples]
    keys = list(examples[0][1])
    batch: Dict[str, torch.Tensor] = {}
    for key in keys:
        arrays = []
        for uid, data in examples:
            if key not in data:
                raise ValueError(f"collate: example '{uid}' lacks '{key}' (the batch's first example has it)")
            arrays.append(np.asarray(data[key]))
        is_float = arrays[0].dtype.kind == "f"
        dtype, pad = (torch.float32, FLOAT_PAD) if is_float else (torch.long, INT_PAD)
        lengths = [a.shape[0] for a in arrays]
        padded = torch.full((len(arrays), max(lengths), *arrays[0].shape[1:]), pad, dtype=dtype)
        for i, a in enumerate(arrays):
            if a.shape[0]:
                padded[i, : a.shape[0]] = torch.tensor(a, dtype=dtype)  # a copy: arrays may be read-only
        batch[key] = padded
        batch[key + "_lengths"] = torch.tensor(lengths, dtype=torch.long)
    return ids, batch
