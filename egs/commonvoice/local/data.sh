#!/usr/bin/env bash
# Stage 1 of egs/commonvoice: Kaldi data dirs from a Common Voice release (the paper uses 15.0).
#
# Reads the release from COMMONVOICE (db.sh) and writes, below --data_dir:
#   train, dev              the official train and dev splits of all chosen locales together
#   test_commonvoice        the official test splits (utt2lang tells the languages apart)
#   local/commonvoice/      commonvoice_<split>_<locale>: one data dir per locale and split
# and prints "test_sets: test_commonvoice" as its last line on stdout (logs go to stderr).
#
#   local/data.sh --langs de,fr,zh-CN --strict true
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

langs=en,de,fr,es,it,ja,zh-CN  # Common Voice locales, comma separated
train_tsv=train                # train: train.tsv; validated: validated.tsv minus the clips, speakers and sentences of dev/test
audio_format=auto              # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false                   # true: stop on missing/unreadable clips and malformed rows instead of skipping them
data_dir=data                  # where train, dev, test_commonvoice and local/ are written

help_message=$(cat <<EOF
Usage: $0 [options]   (run from egs/commonvoice; set COMMONVOICE in db.sh)
  --langs ${langs}     Common Voice locales, comma separated
  --train_tsv ${train_tsv}    train | validated (validated.tsv minus everything related to dev/test)
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}      true: missing or unreadable clips and malformed rows are errors
  --data_dir ${data_dir}     output folder
Writes <data_dir>/{train,dev,test_commonvoice}; prints "test_sets: test_commonvoice".
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

"${python}" -m part.data.corpora.recipes commonvoice --commonvoice "${COMMONVOICE}" --data_dir "${data_dir}" \
  --langs "${langs}" --train_tsv "${train_tsv}" --audio_format "${audio_format}" --strict "${strict}"
log "Successfully finished. [elapsed=${SECONDS}s]"
