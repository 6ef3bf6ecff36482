#!/usr/bin/env bash
# Stage 1 of egs/wenetspeech: Kaldi data dirs (with segments) from WenetSpeech (Mandarin).
#
# Reads WenetSpeech.json and the opus recordings from WENETSPEECH (db.sh) and writes, below --data_dir:
#   train                       the chosen training subset (L 10000 h, M 1000 h, S 100 h, W weakly labelled)
#   dev                         DEV
#   test_wenetspeech_net        TEST_NET
#   test_wenetspeech_meeting    TEST_MEETING
#   local/wenetspeech/          wenetspeech_<subset> as read from the manifest
# and prints "test_sets: test_wenetspeech_net test_wenetspeech_meeting" as its last line on stdout.
# wav.scp is keyed by recording and names the 16 kHz opus files (soundfile reads and seeks in them).
#
#   local/data.sh --train_subset S
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

train_subset=M      # L | M | S | W
audio_format=path   # wav.scp: path (the opus files) | pipe (decodes a whole recording per read: slow) | auto
strict=false        # true: stop on missing/unreadable audio and bad segments instead of skipping them
data_dir=data       # where train, dev, test_wenetspeech_* and local/ are written

help_message=$(cat <<EOF
Usage: $0 [options]   (run from egs/wenetspeech; set WENETSPEECH in db.sh)
  --train_subset ${train_subset}   L | M | S | W
  --audio_format ${audio_format}  path | pipe | auto (see part/data/corpora/wavscp.py)
  --strict ${strict}       true: missing or unreadable audio and bad segments are errors
  --data_dir ${data_dir}      output folder
Writes <data_dir>/{train,dev,test_wenetspeech_net,test_wenetspeech_meeting}; prints the test set names.
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

"${python}" -m part.data.corpora.recipes wenetspeech --wenetspeech "${WENETSPEECH}" --data_dir "${data_dir}" \
  --train_subset "${train_subset}" --audio_format "${audio_format}" --strict "${strict}"
log "Successfully finished. [elapsed=${SECONDS}s]"
