#!/usr/bin/env bash
# Stage 1 of egs/covost2: Kaldi data dirs for speech translation from CoVoST 2 (over Common Voice clips).
#
# Reads the translations from COVOST2 and the clips and transcripts from COVOST2_CV_ROOT (db.sh) and
# writes, below --data_dir:
#   train, dev          all chosen directions together: text = source transcript, text.<tgt> = translation
#   test_covost2        the test splits
#   local/covost2/      covost2_<split>_<src>_<tgt>: one data dir per direction and split
# and prints "test_sets: test_covost2" as its last line on stdout (logs go to stderr).
#
#   local/data.sh --pairs fr_en,de_en,zh-CN_en
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

pairs=de_en,fr_en,es_en,it_en,ja_en,zh-CN_en  # directions as in the file names covost_v2.<src>_<tgt>.tsv
audio_format=auto   # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false        # true: stop on missing/unreadable clips, untranscribed clips and malformed rows
data_dir=data       # where train, dev, test_covost2 and local/ are written

help_message=$(cat <<EOF
Usage: $0 [options]   (run from egs/covost2; set COVOST2 and COVOST2_CV_ROOT in db.sh)
  --pairs ${pairs}   directions, comma separated
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}     true: missing or unreadable clips and malformed rows are errors
  --data_dir ${data_dir}    output folder
Writes <data_dir>/{train,dev,test_covost2}; prints "test_sets: test_covost2".
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

"${python}" -m part.data.corpora.recipes covost2 --covost2 "${COVOST2}" --covost2_cv_root "${COVOST2_CV_ROOT}" \
  --data_dir "${data_dir}" --pairs "${pairs}" --audio_format "${audio_format}" --strict "${strict}"
log "Successfully finished. [elapsed=${SECONDS}s]"
