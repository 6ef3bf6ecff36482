"""The decoder-only LLM: any Hugging Face causal LM in a local directory, optionally with LoRA.

Nothing is downloaded: ``path`` must be a local directory (``config.json`` + weights, or a GGUF file
named by ``gguf_file``). LoRA goes through ``peft``; only the LoRA weights train, the base weights stay
frozen and are always re-read from ``path``.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import torch


def _check_llm_dir(path: str, gguf_file: Optional[str]) -> Path:
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"LLM directory '{path}' does not exist. Set --llm_path to a local Hugging Face model "
            "directory (nothing is downloaded at run time)."
        )
    if gguf_file:
        if not (root / gguf_file).is_file():
            raise FileNotFoundError(f"LLM: GGUF file '{root / gguf_file}' not found")
    elif not (root / "config.json").is_file():
        raise FileNotFoundError(f"LLM directory '{path}' has no config.json: is it a Hugging Face model directory?")
    return root


def load_tokenizer(path: str, gguf_file: Optional[str] = None):
    """The tokenizer saved in ``path``, with the class it was saved as.

    A generic ``tokenizers`` tokenizer (as the in-recipe LLM's) is loaded as such: AutoTokenizer would
    otherwise pick the model family's own class (Qwen2's byte-level BPE) and lose its pre-tokenizer.
    """
    import json

    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    root = _check_llm_dir(path, gguf_file)
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    loader = AutoTokenizer
    config = root / "tokenizer_config.json"
    if not gguf_file and config.is_file():
        saved_class = json.loads(config.read_text(encoding="utf-8")).get("tokenizer_class")
        if saved_class in ("TokenizersBackend", "PreTrainedTokenizerFast"):
            loader = PreTrainedTokenizerFast
    tokenizer = loader.from_pretrained(str(root), **kwargs)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer in '{path}' defines no EOS token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_llm(path: str, gguf_file: Optional[str] = None, dtype: str = "float32",
             attn_implementation: Optional[str] = None, gradient_checkpointing: bool = False):
    """Load a causal LM from a local directory, with every parameter frozen.

    The keyword arguments are the keys of ``llm_conf`` (``load_llm(path, **llm_conf)``):

    - ``dtype``: of the weights (``bfloat16`` halves a frozen LLM's memory);
    - ``attn_implementation``: ``sdpa`` (PyTorch's fused attention, flash kernels on GPUs), ``eager``,
      ``flash_attention_2``, ...; unset, it is ``sdpa`` where the model class supports it, else the class's
      own default;
    - ``gradient_checkpointing``: recompute each decoder layer's activations in the backward pass (training
      memory for a second forward of the layers; the frozen layers still carry the gradient to the speech
      side, so this pays off in every PART phase).
    """
    from transformers import AutoModelForCausalLM

    root = _check_llm_dir(path, gguf_file)
    kwargs = {"dtype": getattr(torch, dtype)}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    try:
        model = AutoModelForCausalLM.from_pretrained(str(root), attn_implementation=attn_implementation or "sdpa",
                                                     **kwargs)
    except ValueError as exc:
        if attn_implementation or "sdpa" not in str(exc).lower():
            raise
        logging.info("%s does not support SDPA attention (%s); using the model's default", root, exc)
        model = AutoModelForCausalLM.from_pretrained(str(root), **kwargs)
    for p in model.parameters():
        p.requires_grad = False
    if gradient_checkpointing:
        enable_activation_checkpointing(model)
    logging.info("loaded LLM %s (%.1fM parameters, %s attention%s)", root,
                 sum(p.numel() for p in model.parameters()) / 1e6, model.config._attn_implementation,
                 ", gradient checkpointing" if gradient_checkpointing else "")
    return model


def check_tokenizer_matches(model, tokenizer, path: str, tokenizer_path: Optional[str] = None) -> None:
    """A tokenizer whose ids run past the model's embedding table belongs to another model."""
    vocab = model.get_input_embeddings().weight.size(0)
    if len(tokenizer) > vocab:
        raise ValueError(
            f"tokenizer{f' in {tokenizer_path!r}' if tokenizer_path and tokenizer_path != path else ''} has "
            f"{len(tokenizer)} tokens but the LLM in '{path}' embeds only {vocab}: "
            "the tokenizer does not belong to this model"
        )


def add_lora(model, r: int = 8, alpha: int = 16, dropout: float = 0.05,
             target_modules: Sequence[str] = ("q_proj", "v_proj")):
    """Wrap ``model`` with peft LoRA adapters (created frozen; a schedule decides when they train)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(target_modules),
                        bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    for name, p in model.named_parameters():
        p.requires_grad = False
    return model


def enable_activation_checkpointing(model) -> None:
    """Hugging Face's gradient (activation) checkpointing of every layer, non-reentrant (frozen inputs and
    LoRA need no ``enable_input_require_grads``). transformers renamed the method in 5.x; both names work."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
