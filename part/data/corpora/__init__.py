"""Corpus preparation (recipe stage 1): Kaldi data dirs from speech corpora as their releases lay them out.

One module per corpus, each with a command line (``python -m part.data.corpora.<module> --help``):

- :mod:`~part.data.corpora.commonvoice`: Common Voice (release 15 and others), ASR
- :mod:`~part.data.corpora.fleurs`: FLEURS, ASR (optionally with its parallel transcripts as translations)
- :mod:`~part.data.corpora.wenetspeech`: WenetSpeech, Mandarin ASR with segments
- :mod:`~part.data.corpora.covost2`: CoVoST 2, speech translation over Common Voice clips
- :mod:`~part.data.corpora.generic`: any corpus listed in a TSV (``id path text lang [speaker]
  [translation_<tgt>]``)

:mod:`~part.data.corpora.recipes` is what the recipes' ``local/data.sh`` run; shared pieces live in
:mod:`~part.data.corpora.base` (utterances, TSV reading, writing and combining data dirs) and
:mod:`~part.data.corpora.wavscp` (``wav.scp`` entries that give 16 kHz audio).
"""
