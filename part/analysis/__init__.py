"""Recipe stage 9: how training phases shape the model (``python -m part.bin.part_analyze``).

- :mod:`part.analysis.data`: a task dir's examples grouped by (task, source, target language) and batched
  as in training;
- :mod:`part.analysis.gradients`: per-phase gradient cosine similarity between those groups;
- :mod:`part.analysis.representation`: adapter-output alignment with the LLM's text embeddings, a
  language-ID probe and a PCA projection;
- :mod:`part.analysis.plots`, :mod:`part.analysis.report`: figures, ``summary.json`` and ``README.md``;
- :mod:`part.analysis.pipeline`: the whole analysis of a method dir, phase by phase.
"""
