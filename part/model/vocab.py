"""Extending a trained LLM's vocabulary to a new corpus, and the encoder's CTC head with it.

The embedded recipe's LLM has a BPE tokenizer trained on en de fr es zh ja without byte fallback: a
character it never saw (Italian ``ì``, Polish ``ł``) and a task or language tag it never had (``<|it|>``)
both become ``<unk>``. Stage 3 of a recipe that starts from those models (no ``--llm_path``) extends it:

- every character of the new corpus that maps to ``<unk>`` joins the BPE alphabet (a vocabulary entry of
  its own, without merges: words containing it are spelled around it, and it decodes as itself);
- every ``<|...|>`` marker of the recipe's prompts that the vocabulary lacks is added as a special token.

New ids come after the old ones, so every old id keeps its meaning. Their embedding rows start from what
they resemble, not at random: a letter with a diacritic from its base letter (``ì`` from ``i``), a new
language tag from the mean of the language tags the LLM knows, anything else from the mean of all rows.
``vocab_extension.json`` in the extended LLM's directory records the base, its vocabulary size and where
each new row came from, so that the encoder's CTC head over the same vocabulary (blank last) grows the same
way (:func:`extend_ctc_head`).
"""
from __future__ import annotations

import json
import logging
import shutil
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from part.checks import MARKER, prompt_markers, unencodable_characters
from part.data import prompts as prompt_format

logger = logging.getLogger("part.model.vocab")

EXTENSION_FILE = "vocab_extension.json"
# config.json too: part.model.llm.load_tokenizer reads a model directory (the model itself is saved over it).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json")


@dataclass(frozen=True)
class AddedToken:
    token: str
    id: int
    special: bool
    init_from: List[int]  # ids whose mean starts its embedding row (empty: the mean of all rows)


@dataclass
class VocabExtension:
    base: str
    base_vocab_size: int
    added: List[AddedToken]

    @property
    def vocab_size(self) -> int:
        return self.base_vocab_size + len(self.added)

    def save(self, directory: Path) -> None:
        data = {"base": self.base, "base_vocab_size": self.base_vocab_size, "added": [asdict(a) for a in self.added]}
        (Path(directory) / EXTENSION_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                                      encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Optional["VocabExtension"]:
        path = Path(directory) / EXTENSION_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["base"], int(data["base_vocab_size"]), [AddedToken(**a) for a in data["added"]])


def _is_language_tag(marker: str) -> bool:
    from part.data.languages import LANGUAGES

    return marker[2:-2] in LANGUAGES


def _char_sources(ch: str, vocab: Dict[str, int]) -> List[int]:
    """The base letter of a letter with diacritics (``ì`` -> ``i``), or its other case, if the vocabulary has it."""
    base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
    for candidate in (base, ch.lower(), ch.upper(), base.lower()):
        if candidate and candidate != ch and candidate in vocab:
            return [vocab[candidate]]
    return []


def extend_tokenizer(base_dir: Path, out_dir: Path, texts: Iterable[str], prompts: Iterable[str]):
    """Write into ``out_dir`` the tokenizer of ``base_dir`` extended to ``texts`` and the rendered ``prompts``
    (see the module doc); return ``(tokenizer, VocabExtension)``. Nothing is added when nothing is missing."""
    from part.model.llm import load_tokenizer

    base_dir, out_dir = Path(base_dir), Path(out_dir)
    tokenizer = load_tokenizer(str(base_dir))
    base_size = len(tokenizer)
    vocab = tokenizer.get_vocab()
    prompts = list(prompts)
    markers = sorted({m for p in prompts for m in prompt_markers(p) if m not in vocab})
    # The prompts' own words (a chat template's "Transcribe this ... audio.") need their characters too.
    prompt_words = [MARKER.sub(" ", piece) for p in prompts for piece in prompt_format.split(p) if piece]
    chars = list(unencodable_characters(tokenizer, [*texts, *prompt_words]))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (base_dir / name).is_file() and base_dir.resolve() != out_dir.resolve():
            shutil.copy(base_dir / name, out_dir / name)
    added: List[AddedToken] = []
    if chars:
        spec = json.loads((out_dir / "tokenizer.json").read_text(encoding="utf-8"))
        if spec.get("model", {}).get("type") != "BPE":
            raise ValueError(f"{base_dir}/tokenizer.json: only a BPE tokenizer can be extended by characters "
                             f"(this one is {spec.get('model', {}).get('type')})")
        next_id = max([*spec["model"]["vocab"].values(), *(t["id"] for t in spec.get("added_tokens", []))]) + 1
        for ch in sorted(chars):
            spec["model"]["vocab"][ch] = next_id
            added.append(AddedToken(ch, next_id, False, _char_sources(ch, vocab)))
            next_id += 1
        (out_dir / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        tokenizer = load_tokenizer(str(out_dir))
    if markers:
        tags = [i for token, i in vocab.items() if token.startswith("<|") and _is_language_tag(token)]
        # As special tokens of the tokenizer (not only of its vocabulary): decoding stops at them.
        tokenizer.add_special_tokens({"extra_special_tokens": markers}, replace_extra_special_tokens=False)
        for marker in markers:
            added.append(AddedToken(marker, tokenizer.convert_tokens_to_ids(marker), True,
                                    sorted(tags) if _is_language_tag(marker) else []))
    tokenizer.save_pretrained(str(out_dir))
    extension = VocabExtension(str(base_dir.resolve()), base_size, added)
    if len(tokenizer) != extension.vocab_size:
        raise RuntimeError(f"extending the tokenizer of {base_dir}: {len(tokenizer)} tokens, expected "
                           f"{extension.vocab_size} (ids of the added tokens are not contiguous)")
    if added:
        logger.info("extended the vocabulary of %s by %d token(s): %s", base_dir, len(added),
                    " ".join(a.token for a in added))
    return tokenizer, extension


def _init_rows(weight, extension: VocabExtension) -> None:
    """Fill the rows of the added tokens of an embedding-like matrix (old rows are ``weight[:base_vocab_size]``)."""
    import torch

    with torch.no_grad():
        old = weight[: extension.base_vocab_size]
        mean = old.mean(0)
        for token in extension.added:
            weight[token.id] = old[token.init_from].mean(0) if token.init_from else mean


def extend_embeddings(model, extension: VocabExtension) -> None:
    """Grow the LLM's input (and, if untied, output) embeddings to the extended vocabulary."""
    if not extension.added:
        return
    model.resize_token_embeddings(extension.vocab_size, mean_resizing=False)
    _init_rows(model.get_input_embeddings().weight, extension)
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr():
        _init_rows(output.weight, extension)


def extend_ctc_head(state: Dict[str, "object"], extension: VocabExtension, prefix: str = "encoder.ctc_head.") -> None:
    """Grow a CTC head over the base vocabulary (``vocab + 1`` outputs, blank last) in a state dict to the
    extended vocabulary: old rows keep their ids, the blank moves to the end, new rows start as in
    :func:`extend_embeddings`."""
    import torch

    for name in ("weight", "bias"):
        key = prefix + name
        old = state[key]
        if old.shape[0] != extension.base_vocab_size + 1:
            raise ValueError(f"the CTC head ({key}) has {old.shape[0] - 1} tokens + blank, but the LLM was extended "
                             f"from a vocabulary of {extension.base_vocab_size}: the encoder does not belong to "
                             f"the base LLM {extension.base}")
        new = torch.empty((extension.vocab_size + 1, *old.shape[1:]), dtype=old.dtype)
        new[: extension.base_vocab_size] = old[: extension.base_vocab_size]
        new[extension.vocab_size] = old[extension.base_vocab_size]
        _init_rows(new, extension)
        state[key] = new


def added_token_names(extension: Optional[VocabExtension]) -> Sequence[str]:
    return [a.token for a in extension.added] if extension else []
