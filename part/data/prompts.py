"""Prompt templates: the one place where prompts are rendered, stored and split around the speech.

A recipe's ``conf/prompts.yaml`` holds one template per task::

    asr:  "<speech><|{src}|><|transcribe|>"
    s2tt: "<speech><|{src}|><|translate|><|{tgt}|>"
    mt:   "{text}<|{src}|><|translate|><|{tgt}|>"

``<speech>`` marks where the adapter's vectors are spliced in (speech tasks); ``{src}``/``{tgt}`` are
language codes, ``{src_name}``/``{tgt_name}`` their English names and ``{text}`` the source text of a
text-only task. Chat formats span several lines; in the one-line files of an example list (the
``prompt`` file, docs/contracts.md) a prompt is stored with :func:`escape` and read back with
:func:`unescape`.

Training (``part.data.pipeline.ExamplePreprocessor``), decoding (``part.inference``) and in-recipe
LLM pretraining (``part.bin.pretrain_llm``) all tokenise a prompt as ``split(prompt)`` gives it: the
text before the placeholder, the speech, the text after it — never the whole string at once, so the
token boundaries at the speech are the same everywhere.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import yaml

SPEECH = "<speech>"
TASKS = ("asr", "s2tt", "mt")
SPEECH_TASKS = ("asr", "s2tt")


def load_prompts(path: str) -> Dict[str, str]:
    """The templates of a ``prompts.yaml``, checked: known tasks, ``<speech>`` in speech tasks, ``{text}`` in mt."""
    with open(path, encoding="utf-8") as f:
        prompts = yaml.safe_load(f)
    if not isinstance(prompts, dict):
        raise ValueError(f"{path}: expected a mapping task -> template, got {type(prompts).__name__}")
    unknown = set(prompts) - set(TASKS)
    if unknown:
        raise ValueError(f"{path}: unknown task(s) {sorted(unknown)}; templates exist for {TASKS}")
    for task in SPEECH_TASKS:
        if task in prompts and SPEECH not in prompts[task]:
            raise ValueError(f"{path}: the '{task}' template needs the {SPEECH} placeholder")
    if "mt" in prompts and "{text}" not in prompts["mt"]:
        raise ValueError(f"{path}: the 'mt' template needs the {{text}} placeholder")
    return prompts


def render(template: str, src: str, tgt: str, text: str = "") -> str:
    """The prompt of one example (real newlines; :func:`escape` it for a one-line file)."""
    from part.data.languages import get_language

    return template.format(src=src, tgt=tgt, src_name=get_language(src).name, tgt_name=get_language(tgt).name,
                           text=text)


def escape(prompt: str) -> str:
    """One line for a Kaldi-style ``id value`` file: backslashes doubled, newlines as ``\\n``."""
    return prompt.replace("\\", "\\\\").replace("\n", "\\n")


def unescape(stored: str) -> str:
    """The inverse of :func:`escape`."""
    out, i = [], 0
    while i < len(stored):
        c = stored[i]
        if c == "\\" and i + 1 < len(stored) and stored[i + 1] in "\\n":
            out.append("\n" if stored[i + 1] == "n" else "\\")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split(prompt: str) -> Tuple[str, Optional[str]]:
    """``(before, after)`` the speech placeholder; ``(prompt, None)`` for a prompt without one (text-only)."""
    before, found, after = prompt.partition(SPEECH)
    if found and SPEECH in after:
        raise ValueError(f"the prompt has more than one {SPEECH} placeholder: {prompt!r}")
    return (before, after) if found else (prompt, None)
