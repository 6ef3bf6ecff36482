#!/usr/bin/env bash
# Stage 1 of egs/commonvoice: Kaldi data dirs from a Common Voice release (the paper uses 15.0).
#
# Reads the release from COMMONVOICE (db.sh) and writes, below --data_dir (default data):
#   train, dev              the official train and dev splits of all chosen locales together
#   test_commonvoice        the official test splits (utt2lang tells the languages apart)
#   local/commonvoice/      commonvoice_<split>_<locale>: one data dir per locale and split
# and prints "test_sets: test_commonvoice" as its last line on stdout (logs go to stderr).
# The options (--langs, --train_tsv, --audio_format, --strict, --data_dir) and their defaults are those of
# python -m part.data.corpora.recipes commonvoice (local/data.sh --help shows them).
#
#   local/data.sh --langs de,fr,zh-CN --strict true
set -euo pipefail
echo "$0 $*" >&2
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "${recipe_dir}/../../utils/prepare_corpus.sh" "${recipe_dir}" commonvoice "$@"
