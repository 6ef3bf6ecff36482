"""A trained PART model as one self-contained folder (Hugging Face conventions): writing it and loading it.

:func:`export_model` turns a training phase (``exp/part_ctc_posterior_seed1/phase3`` + its model file) into::

    <out_dir>/config.json        what rebuilds the model and its input: format, encoder/adapter/LLM options
                                 (no paths), front end, prompt templates, decoding defaults, languages seen
                                 in training, and where the model came from
    <out_dir>/model.safetensors  encoder + adapter weights (the global CMVN statistics are buffers in it)
    <out_dir>/llm/               the LLM (LoRA merged into its weights by default) and its tokenizer,
                                 written with ``save_pretrained``
    <out_dir>/lora/              only with ``merge_lora=False``: the LoRA adapter (peft ``save_pretrained``),
                                 applied to ``llm/`` with ``PeftModel.from_pretrained`` when loading
    <out_dir>/README.md          the model card: model, training data, phase schedule, scores, usage

The frozen base LLM weights, which checkpoints leave out, are read from the training run's ``llm_path``
while exporting; afterwards the folder needs nothing else — not the recipe, not the original LLM folder,
not ESPnet's task code. :func:`load_exported` rebuilds the model from it with the same builders training
uses (:func:`part.model.factory.assemble_speech_llm`); the Conformer encoder class itself comes from the
installed ``espnet2`` package, a dependency of the toolkit.

Modules: :mod:`~.folder` (the folder's format: names, :func:`read_config`, :func:`load_exported`),
:mod:`~.write` (:func:`export_model`), :mod:`~.provenance` (what the experiment dir tells about the
model: prompts, phases, training data, decoding options, scores), :mod:`~.card` (the model card).
"""
from part.export.folder import (CARD, CONFIG, FORMAT_NAME, FORMAT_VERSION, LLM_DIR, LORA_DIR, WEIGHTS, ExportError,
                                load_exported, read_config)
from part.export.write import export_model

__all__ = ["CARD", "CONFIG", "FORMAT_NAME", "FORMAT_VERSION", "LLM_DIR", "LORA_DIR", "WEIGHTS", "ExportError",
           "export_model", "load_exported", "read_config"]
