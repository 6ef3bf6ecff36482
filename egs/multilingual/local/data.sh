#!/usr/bin/env bash
# Stage 1 of egs/multilingual: Common Voice and FLEURS ASR plus CoVoST 2 xx->en speech translation
# in one training set, as in the paper.
#
# Reads COMMONVOICE, FLEURS, COVOST2 and COVOST2_CV_ROOT (db.sh) and writes, below --data_dir (default data):
#   train, dev          every corpus and language together (utt2lang: the language; text.en: the CoVoST 2
#                       translation of the clips that have one). A Common Voice clip that CoVoST 2 also
#                       uses is one utterance with both its transcript and its translation. Clips of any
#                       dev or test set are left out of train, and clips of a test set out of dev.
#   test_commonvoice    Common Voice test splits of --cv_langs
#   test_fleurs         FLEURS test splits of --fleurs_langs
#   test_covost2        CoVoST 2 test splits of --covost_pairs
#   local/<corpus>/     the per-corpus, per-language data dirs
# and prints the test sets it made ("test_sets: test_commonvoice test_fleurs test_covost2") as its last line
# on stdout. An empty list leaves its corpus (and its test set) out. The options (--cv_langs, --fleurs_langs,
# --covost_pairs, --train_tsv, --fleurs_translate_to, --audio_format, --strict, --data_dir) and their
# defaults are those of python -m part.data.corpora.recipes multilingual (local/data.sh --help shows them).
#
#   local/data.sh --cv_langs de,zh-CN --fleurs_langs de_de,cmn_hans_cn --covost_pairs de_en,zh-CN_en
set -euo pipefail
echo "$0 $*" >&2
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "${recipe_dir}/../../utils/prepare_corpus.sh" "${recipe_dir}" multilingual "$@"
