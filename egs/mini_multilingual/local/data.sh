#!/usr/bin/env bash
# Stage 1 of egs/mini_multilingual: make the embedded corpus in the recipe directory (the working
# directory): parallel sentences from the project's own grammar in en de fr es zh ja, espeak-ng speech
# with varied voices, rates, pitch and noise, the Kaldi data dirs data/{train,dev,test} (with text.<tgt>
# translation references) and the text corpus of the in-recipe LLM, data/lm_text/{train,dev}.jsonl.
# Nothing is downloaded. A re-run with the same options returns at once; other options remake it.
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}
log "$0 $*"

size=default              # tiny (12/4/4 utterances per language, CI), default (1500/30/100), large (4000/50/200)
langs=en,de,fr,es,zh,ja   # languages, comma separated
seed=1                    # seed of the sentences, voices and noise
nj=2                      # parallel synthesis jobs
force=false               # remake the corpus even if a finished run had the same options

help_message="Usage: $0 [options]
Make the embedded multilingual corpus (stage 1 of egs/mini_multilingual) in the current directory.
Options:
  --size <tiny|default|large>  utterances per language train/dev/test: tiny 12/4/4, default 1500/30/100,
                               large 4000/50/200 (default: ${size})
  --langs <l1,l2,...>          languages among en,de,fr,es,zh,ja (default: ${langs})
  --seed <int>                 seed of sentences, voices and noise (default: ${seed})
  --nj <int>                   parallel synthesis jobs (default: ${nj})
  --force <true|false>         remake even if already made with these options (default: ${force})
Writes data/{train,dev,test}/, data/lm_text/{train,dev}.jsonl and downloads/embedded/wav/.
e.g.: $0 --size tiny --langs en,de,zh"

# utils/ of the recipe if it has one (Kaldi's symlink), else the repository's.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
if [ -f utils/parse_options.sh ]; then
    utils_dir=utils
else
    utils_dir=${repo_root}/utils
fi
. "${utils_dir}/parse_options.sh"
if [ $# -ne 0 ]; then
    echo "$0: unexpected argument(s): $* (run $0 --help)" >&2
    exit 1
fi
. "${utils_dir}/find_python.sh"  # sets ${python}, puts the repository on PYTHONPATH

force_opt=()
if [ "${force}" = true ]; then
    force_opt=(--force)
fi
log "making the embedded corpus: size=${size} langs=${langs} seed=${seed} nj=${nj}"
"${python}" -m part.data.embedded.prepare --out . --size "${size}" --langs "${langs}" --seed "${seed}" \
    --nj "${nj}" "${force_opt[@]}"
log "successfully finished: data/{train,dev,test} data/lm_text"
