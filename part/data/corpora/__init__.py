"""Corpus preparation (recipe stage 1): Kaldi data dirs from speech corpora as their releases lay them out.

One module per corpus, each with a command line (``python -m part.data.corpora.<module> --help``),
reading what its release holds and writing data dirs below ``--out_dir``:

- ``commonvoice``: ``<root>/<locale>/{train,dev,test}.tsv`` and ``clips/`` -> ``commonvoice_<split>_<locale>``
  and ``commonvoice_<split>``
- ``fleurs``: ``<root>/<code>/{train,dev,test}.tsv`` and ``audio/<split>/`` -> ``fleurs_<split>_<code>`` and
  ``fleurs_<split>``
- ``wenetspeech``: ``<root>/WenetSpeech.json`` and ``audio/`` -> ``wenetspeech_<subset>`` (train_l, train_m,
  train_s, train_w, dev, test_net, test_meeting), with ``segments``
- ``covost2``: ``covost_v2.<src>_<tgt>.tsv`` and the Common Voice clips -> ``covost2_<split>_<src>_<tgt>`` and
  ``covost2_<split>``, with ``text.<tgt>``
- ``generic``: a TSV ``id path text lang [speaker] [translation_<tgt> ...]`` -> the one data dir ``--out``

``<split>`` is train, dev or test; ``<locale>``/``<code>`` are the corpus' own language codes (``zh-CN``,
``cmn_hans_cn``) while ``utt2lang`` holds registry codes (``zh``). The ``<corpus>_<split>`` dirs hold all
languages of the split. Module docstrings give each release layout, the id scheme and what is skipped.

:mod:`~part.data.corpora.recipes` is what the recipes' ``local/data.sh`` run: it prepares the corpora
into ``data/local/<corpus>/`` and writes ``data/train``, ``data/dev`` and ``data/test_<corpus>``
(``test_commonvoice``, ``test_fleurs``, ``test_covost2``, ``test_wenetspeech_net``,
``test_wenetspeech_meeting``), keeping evaluation utterances out of train, and prints
``test_sets: ...`` as its last stdout line.

Shared pieces: :mod:`~part.data.corpora.base` (TSV reading, skip reports, writing and combining data
dirs through :mod:`part.data.datadir`, whose :class:`~part.data.datadir.Utterance` is the record every
corpus produces), :mod:`~part.data.corpora.errors` and :mod:`~part.data.corpora.wavscp` (``wav.scp``
entries: the file's path when it is 16 kHz mono, else a sox pipe that makes it so).

Every reader streams (TSVs line by line, WenetSpeech.json incrementally) and every data dir is written
through an external sort, so preparing a corpus keeps the memory footprint of a small one. A bad row
of an index file is skipped with a warning that names the file and the row (or JSON entry), is
counted, and is never fatal to the corpus (``--strict`` makes missing audio and malformed rows errors).
Stage 1 does not decode audio: with ``--audio_format auto`` it reads each file's header.
"""
