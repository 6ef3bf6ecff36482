#!/usr/bin/env bash
# Stage 1 of egs/covost2: Kaldi data dirs for speech translation from CoVoST 2 (over Common Voice clips).
#
# Reads the translations from COVOST2 and the clips and transcripts from COVOST2_CV_ROOT (db.sh) and
# writes, below --data_dir (default data):
#   train, dev          all chosen directions together: text = source transcript, text.<tgt> = translation
#   test_covost2        the test splits
#   local/covost2/      covost2_<split>_<src>_<tgt>: one data dir per direction and split
# and prints "test_sets: test_covost2" as its last line on stdout (logs go to stderr).
# The options (--pairs, --audio_format, --strict, --data_dir) and their defaults are those of
# python -m part.data.corpora.recipes covost2 (local/data.sh --help shows them).
#
#   local/data.sh --pairs fr_en,de_en,zh-CN_en
set -euo pipefail
echo "$0 $*" >&2
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "${recipe_dir}/../../utils/prepare_corpus.sh" "${recipe_dir}" covost2 "$@"
