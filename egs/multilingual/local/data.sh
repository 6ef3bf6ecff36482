#!/usr/bin/env bash
# Stage 1 of egs/multilingual: Common Voice and FLEURS ASR plus CoVoST 2 xx->en speech translation
# in one training set, as in the paper.
#
# Reads COMMONVOICE, FLEURS, COVOST2 and COVOST2_CV_ROOT (db.sh) and writes, below --data_dir:
#   train, dev          every corpus and language together (utt2lang: the language; text.en: the CoVoST 2
#                       translation of the clips that have one). A Common Voice clip that CoVoST 2 also
#                       uses is one utterance with both its transcript and its translation. Clips of any
#                       dev or test set are left out of train, and clips of a test set out of dev.
#   test_commonvoice    Common Voice test splits of --cv_langs
#   test_fleurs         FLEURS test splits of --fleurs_langs
#   test_covost2        CoVoST 2 test splits of --covost_pairs
#   local/<corpus>/     the per-corpus, per-language data dirs
# and prints "test_sets: test_commonvoice test_fleurs test_covost2" as its last line on stdout. An empty
# list leaves its corpus (and its test set) out.
#
#   local/data.sh --cv_langs de,zh-CN --fleurs_langs de_de,cmn_hans_cn --covost_pairs de_en,zh-CN_en
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

cv_langs=en,de,fr,es,it,ja,zh-CN                               # Common Voice locales ("" for none)
fleurs_langs=en_us,de_de,fr_fr,es_419,it_it,ja_jp,cmn_hans_cn  # FLEURS configs ("" for none)
covost_pairs=de_en,fr_en,es_en,it_en,ja_en,zh-CN_en            # CoVoST 2 directions ("" for none)
train_tsv=train         # Common Voice train split: train.tsv | validated (validated.tsv minus dev/test related)
fleurs_translate_to=    # e.g. en: add text.en to FLEURS utterances from its parallel transcripts
audio_format=auto       # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false            # true: stop on missing/unreadable audio and malformed rows instead of skipping them
data_dir=data           # where train, dev, test_* and local/ are written

help_message=$(cat <<EOF
Usage: $0 [options]   (run from egs/multilingual; set the corpus roots in db.sh)
  --cv_langs ${cv_langs}   Common Voice locales ("" for none)
  --fleurs_langs ${fleurs_langs}   FLEURS configs ("" for none)
  --covost_pairs ${covost_pairs}   CoVoST 2 directions ("" for none)
  --train_tsv ${train_tsv}   train | validated
  --fleurs_translate_to "${fleurs_translate_to}"   e.g. en
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}    true: missing or unreadable audio and malformed rows are errors
  --data_dir ${data_dir}   output folder
Writes <data_dir>/{train,dev,test_commonvoice,test_fleurs,test_covost2}; prints the test set names.
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

"${python}" -m part.data.corpora.recipes multilingual --data_dir "${data_dir}" \
  --commonvoice "${COMMONVOICE}" --fleurs "${FLEURS}" --covost2 "${COVOST2}" --covost2_cv_root "${COVOST2_CV_ROOT}" \
  --cv_langs "${cv_langs}" --fleurs_langs "${fleurs_langs}" --covost_pairs "${covost_pairs}" \
  --train_tsv "${train_tsv}" --fleurs_translate_to "${fleurs_translate_to}" \
  --audio_format "${audio_format}" --strict "${strict}"
log "Successfully finished. [elapsed=${SECONDS}s]"
