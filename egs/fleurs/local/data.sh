#!/usr/bin/env bash
# Stage 1 of egs/fleurs: Kaldi data dirs from FLEURS.
#
# Reads FLEURS (db.sh) and writes, below --data_dir (default data):
#   train, dev, test_fleurs the official splits of all chosen languages together (with --translate_to en,
#                           text.en from FLEURS' parallel transcripts of the same sentence)
#   local/fleurs/           fleurs_<split>_<config>: one data dir per language and split
# and prints "test_sets: test_fleurs" as its last line on stdout (logs go to stderr).
# The options (--langs, --transcript, --translate_to, --audio_format, --strict, --data_dir) and their
# defaults are those of python -m part.data.corpora.recipes fleurs (local/data.sh --help shows them).
#
#   local/data.sh --langs de_de,cmn_hans_cn --translate_to en
set -euo pipefail
echo "$0 $*" >&2
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "${recipe_dir}/../../utils/prepare_corpus.sh" "${recipe_dir}" fleurs "$@"
