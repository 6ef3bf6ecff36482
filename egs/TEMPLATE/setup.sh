#!/usr/bin/env bash
# Create the recipe of a new corpus: egs/<name>/ with run.sh, path.sh, db.sh, conf/ (copied defaults) and a
# local/data.sh that reads the generic layout (part/data/corpora/generic.py): a folder holding train.tsv,
# dev.tsv and test.tsv, tab-separated, with the header  id path text lang [speaker] [translation_<tgt> ...]
# and the audio files they name. An existing recipe is never overwritten.
#
#   egs/TEMPLATE/setup.sh welsh                          # egs/welsh; then set WELSH in egs/welsh/db.sh
#   egs/TEMPLATE/setup.sh welsh --conf_from egs/fleurs/conf
#
# Walkthrough: docs/new_corpus.md.
set -euo pipefail

template_dir=$(cd "$(dirname "$0")" && pwd)                    # as called (may be a link)
conf_from=$(cd "$(dirname "$(readlink -f "$0")")/../multilingual/conf" && pwd)  # the defaults to copy

usage() {
  echo "Usage: $0 <name> [--conf_from DIR]"
  echo "  <name>        the new recipe: egs/<name> (lower case letters, digits and _, starting with a letter)"
  echo "  --conf_from   the conf/ to copy [${conf_from}]"
}

name=""
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) usage; exit 0 ;;
    --conf_from) conf_from=$2; shift 2 ;;
    -*) echo "$0: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) if [ -n "${name}" ]; then echo "$0: one name only (got '${name}' and '$1')" >&2; exit 2; fi
       name=$1; shift ;;
  esac
done
if [ -z "${name}" ]; then usage >&2; exit 2; fi
if ! [[ "${name}" =~ ^[a-z][a-z0-9_]*$ ]] || [ "${name}" = template ]; then
  echo "$0: '${name}' is not a recipe name: use lower case letters, digits and _, starting with a letter" >&2
  exit 2
fi
recipe=$(cd "${template_dir}/.." && pwd)/${name}
if [ -e "${recipe}" ] || [ -L "${recipe}" ]; then
  echo "$0: ${recipe} exists already; not overwriting it (choose another name, or remove it yourself)" >&2
  exit 1
fi
for f in prompts.yaml encoder.yaml part/phase1.yaml baseline/phase1.yaml; do
  if [ ! -f "${conf_from}/${f}" ]; then
    echo "$0: --conf_from ${conf_from} has no ${f}: not a recipe's conf/" >&2
    exit 2
  fi
done
var=$(echo "${name}" | tr '[:lower:]' '[:upper:]')   # the db.sh variable of the corpus root
test_set=test_${name}

# Build it aside and move it into place at the end: an interrupted run leaves no half recipe.
tmp=$(mktemp -d "${recipe}.tmp.XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
mkdir -p "${tmp}/local"
cp -r "${conf_from}" "${tmp}/conf"
ln -s ../TEMPLATE/path.sh "${tmp}/path.sh"

fill() {  # the templates below name the recipe @NAME@, its variable @VAR@ and its test set @TEST@
  sed -e "s/@NAME@/${name}/g" -e "s/@VAR@/${var}/g" -e "s/@TEST@/${test_set}/g" > "$1"
}

fill "${tmp}/db.sh" <<'EOF'
# Where the corpus of this recipe lives; sourced by local/data.sh. Set the path to your copy here, or
# export the variable before running. local/data.sh stops with a message naming the variable when it is
# unset or does not point to the expected layout.
#
# @VAR@: a folder holding train.tsv, dev.tsv and test.tsv: tab-separated, UTF-8, not quoted, with the header
#   id  path  text  lang  [speaker]  [translation_<tgt> ...]
# path: the audio file, relative to the folder or absolute (wav, flac, mp3, ogg/opus; other rates than
# 16 kHz are converted); lang: a code of part/data/languages.py; translation_<tgt>: a translation into
# <tgt> for speech translation (empty cell: none). See part/data/corpora/generic.py.
@VAR@=${@VAR@:-}
EOF

fill "${tmp}/local/data.sh" <<'EOF'
#!/usr/bin/env bash
# Stage 1 of egs/@NAME@: Kaldi data dirs from a corpus in the generic layout (part/data/corpora/generic.py).
#
# Reads @VAR@ (db.sh): a folder holding train.tsv, dev.tsv and test.tsv with the header
#   id  path  text  lang  [speaker]  [translation_<tgt> ...]
# and writes, below --data_dir: train, dev and @TEST@, and prints "test_sets: @TEST@" as its last line
# on stdout (logs go to stderr). Made by egs/TEMPLATE/setup.sh; change it freely.
#
#   local/data.sh --strict true
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

audio_format=auto   # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false        # true: stop on missing/unreadable audio and malformed rows instead of skipping them
data_dir=data       # where train, dev and @TEST@ are written

help_message=$(cat <<EOM
Usage: $0 [options]   (run from egs/@NAME@; set @VAR@ in db.sh)
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}     true: missing or unreadable audio and malformed rows are errors
  --data_dir ${data_dir}    output folder
Writes <data_dir>/{train,dev,@TEST@}; prints "test_sets: @TEST@".
EOM
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

what="a folder holding train.tsv, dev.tsv and test.tsv (tab-separated, header: id path text lang [speaker] [translation_<tgt> ...])"
if [ -z "${@VAR@}" ]; then
  log "Error: @VAR@ is not set: set it in db.sh (or export @VAR@=...) to ${what}"
  exit 1
fi
for split in train dev test; do
  if [ ! -f "${@VAR@}/${split}.tsv" ]; then
    log "Error: ${@VAR@}/${split}.tsv does not exist. Check @VAR@='${@VAR@}' in db.sh: it must be ${what}"
    exit 1
  fi
done

for split in train dev test; do
  out=${data_dir}/${split}
  [ "${split}" = test ] && out=${data_dir}/@TEST@
  "${python}" -m part.data.corpora.generic --tsv "${@VAR@}/${split}.tsv" --out "${out}" \
    --audio_format "${audio_format}" --strict "${strict}"
done
echo "test_sets: @TEST@"
log "Successfully finished. [elapsed=${SECONDS}s]"
EOF

fill "${tmp}/run.sh" <<'EOF'
#!/usr/bin/env bash
# @NAME@: ASR (and speech translation where the TSVs have translation_<tgt> columns) with PART: Whisper
# encoder -> transformer_cnn adapter -> Qwen2.5 with LoRA. Set @VAR@ in db.sh (or export it) first.
#
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --ngpu 1           # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
#   ./run.sh --llm_path ... --stage 4 --stop_stage 6
# Every other option is egs/TEMPLATE/part.sh's; see docs/new_corpus.md and docs/real_models.md.
set -euo pipefail

llm_path=             # local Hugging Face LLM dir (e.g. Qwen2.5-1.5B-Instruct); required
whisper_path=         # local Hugging Face Whisper dir (e.g. whisper-large-v3); empty: in-recipe Conformer
feats_opts=           # extra options of stage 2 (part.bin.extract_feats)
train_args=           # extra options of part_train for every training phase

args=(); help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --llm_path|--whisper_path|--feats_opts|--train_args) declare "${1#--}=$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; help=true; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
. ../TEMPLATE/real_models.sh   # checks --llm_path; --whisper_path -> Whisper features and encoder

# A test set without translations is scored on ASR only (stage 8 skips the tasks a set lacks).
../TEMPLATE/part.sh \
  --train_set train --valid_set dev --test_sets "@TEST@" \
  --train_tasks asr,s2tt,mt --test_tasks asr,s2tt \
  --prompts conf/prompts.yaml --encoder_config conf/encoder.yaml \
  "${model_opts[@]}" --feats_opts "${feats_opts}" --train_args "${train_args}" \
  "${args[@]+"${args[@]}"}"
EOF

fill "${tmp}/README.md" <<'EOF'
# @NAME@

A corpus in the generic layout, set up by `egs/TEMPLATE/setup.sh @NAME@`. Walkthrough:
[docs/new_corpus.md](../../docs/new_corpus.md); models, GPUs and memory: [docs/real_models.md](../../docs/real_models.md).

1. Put the corpus in a folder with `train.tsv`, `dev.tsv` and `test.tsv` (tab-separated, header
   `id path text lang [speaker] [translation_<tgt> ...]`) and set `@VAR@` in `db.sh` (or export it).
2. `./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1`

Stage 1 writes `data/{train,dev,@TEST@}`; results land in `exp/RESULTS.md` (stage 8).
EOF

chmod +x "${tmp}/run.sh" "${tmp}/local/data.sh"
mv "${tmp}" "${recipe}"
trap - EXIT
echo "Created ${recipe}: set ${var} in ${recipe}/db.sh (or export ${var}=...), then run ./run.sh --llm_path ... from there"
