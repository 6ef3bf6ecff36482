#!/usr/bin/env bash
# Stage 1 of egs/fleurs: Kaldi data dirs from FLEURS (102 languages of read, n-way parallel speech).
#
# Reads FLEURS from FLEURS (db.sh) and writes, below --data_dir:
#   train, dev          the train and dev splits of all chosen languages together
#   test_fleurs         the test splits (utt2lang tells the languages apart)
#   local/fleurs/       fleurs_<split>_<code>: one data dir per language config and split
# and prints "test_sets: test_fleurs" as its last line on stdout (logs go to stderr).
#
#   local/data.sh --langs de_de,fr_fr,cmn_hans_cn --translate_to en
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

langs=en_us,de_de,fr_fr,es_419,it_it,ja_jp,cmn_hans_cn  # FLEURS configs, comma separated
transcript=raw      # raw (case and punctuation) | normalized (lower case, no punctuation)
translate_to=       # e.g. en: add text.en from FLEURS' parallel transcripts (speech translation references)
audio_format=auto   # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false        # true: stop on missing/unreadable audio and malformed rows instead of skipping them
data_dir=data       # where train, dev, test_fleurs and local/ are written

help_message=$(cat <<EOF
Usage: $0 [options]   (run from egs/fleurs; set FLEURS in db.sh)
  --langs ${langs}   FLEURS configs, comma separated
  --transcript ${transcript}   raw | normalized
  --translate_to "${translate_to}"   languages whose parallel transcripts become text.<lang> (e.g. en)
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}     true: missing or unreadable audio and malformed rows are errors
  --data_dir ${data_dir}    output folder
Writes <data_dir>/{train,dev,test_fleurs}; prints "test_sets: test_fleurs".
EOF
)

log "$0 $*"
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "${recipe_dir}/../../utils/parse_options.sh"
if [ $# -ne 0 ]; then
  log "Error: unexpected arguments: $*"; echo "${help_message}" >&2; exit 2
fi

. "${recipe_dir}/db.sh"
if [ -f "${recipe_dir}/path.sh" ]; then . "${recipe_dir}/path.sh"; fi
. "${recipe_dir}/../../utils/find_python.sh"

"${python}" -m part.data.corpora.recipes fleurs --fleurs "${FLEURS}" --data_dir "${data_dir}" --langs "${langs}" \
  --transcript "${transcript}" --translate_to "${translate_to}" --audio_format "${audio_format}" --strict "${strict}"
log "Successfully finished. [elapsed=${SECONDS}s]"
