#!/usr/bin/env bash
# The one stage pipeline of every part recipe (ESPnet's asr.sh pattern, kept small).
# A recipe's run.sh sets its corpus options and calls: ../TEMPLATE/part.sh "$@"
set -euo pipefail

log() {
  local fname=${BASH_SOURCE[1]##*/}
  echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}

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
nj=2                    # parallel jobs for data preparation, feature extraction and decoding
ngpu=0                  # GPUs for training and decoding (0: CPU)
num_nodes=1             # nodes for distributed training (ESPnet's launcher)
method=part             # part (the three PART phases) or baseline (Baseline-2stage)
seed=1                  # random seed of training
exp_tag=""              # suffix of the experiment dir: exp/<method><exp_tag>/
expdir=exp              # root of the experiment dirs
dumpdir=dump            # root of features and task lists
redo=false              # re-run stages that are already finished

# ---- Data (stages 1-3) ---------------------------------------------------------------------------
local_data_opts=""      # options passed to local/data.sh
train_set=train         # training data dir under data/
valid_set=dev           # validation data dir under data/
test_sets="test"        # test data dirs under data/ (space separated)
feats_opts=""           # extra options of part.bin.extract_feats (e.g. --num_mel_bins 128)
min_frames=10           # drop shorter utterances in stage 2
max_frames=3000         # drop longer utterances in stage 2
prompts=conf/prompts.yaml       # prompt templates per task
train_tasks="asr,s2tt,mt"       # tasks written into the training task list
test_tasks="asr,s2tt"           # tasks decoded and scored in stages 7-8
directions="*-en,en-*"          # translation directions (src-tgt, wildcards allowed)

# ---- Models (stage 3) ----------------------------------------------------------------------------
llm_path=""             # local Hugging Face LLM directory; empty: pretrain one in-recipe (exp/llm)
llm_config=conf/llm.yaml        # in-recipe LLM pretraining options (used when llm_path is empty)
lm_text=data/lm_text    # parallel text corpus for in-recipe LLM pretraining
encoder_path=""         # pretrained encoder dir (made by stage 3 of a recipe); empty: pretrain one in-recipe
                        # (exp/encoder); "none": the phase configs define the encoder (e.g. Whisper from a
                        # local directory through encoder_conf.path)
encoder_config=conf/encoder.yaml  # in-recipe encoder pretraining config (part_train --model_type ctc_encoder)
encoder_model_file=valid.loss.best.pth

# ---- Training and decoding (stages 4-9) ----------------------------------------------------------
train_config_dir=""     # dir with phase1.yaml [phase2.yaml phase3.yaml]; default conf/<method>
train_args=""           # extra options of part.bin.part_train for every training phase (e.g. "--max_epoch 2")
init_model=valid.acc.ave.pth    # model file of a phase used to start the next one and to decode
inference_args=""       # extra options of part.bin.part_inference
inference_phases=""     # PART phases to decode (e.g. "phase2 phase3"); default: the last one
score_args=""           # extra options of part.bin.part_score

help_message=$(cat <<EOF
Usage: $0 [options]

Stages (run --stage A --stop_stage B; every stage can be re-run and skips finished work):
  1  data preparation (local/data.sh)          -> data/<set>/
  2  fbank features + length filtering         -> ${dumpdir}/fbank/<set>/
  3  task lists; LLM and encoder (local or pretrained in-recipe) -> ${dumpdir}/examples/, ${expdir}/llm, ${expdir}/encoder
  4  PART phase 1 (adapter on monolingual ASR)  -> ${expdir}/<method>/phase1
  5  PART phase 2 (+ encoder, progressively)    -> ${expdir}/<method>/phase2
  6  PART phase 3 (+ LLM LoRA; ASR+S2TT, then +MT; method part only) -> ${expdir}/<method>/phase3
  7  decoding of every test set and task
  8  scoring (sclite-format WER/CER, BLEU/chrF) and ${expdir}/RESULTS.md
  9  analysis (gradient similarity across languages/tasks, representation plots)

Options (default in brackets):
  --stage ${stage} --stop_stage ${stop_stage} --nj ${nj} --ngpu ${ngpu} --num_nodes ${num_nodes}
  --method ${method}            part | baseline (Baseline-2stage: LLM frozen, all tasks mixed)
  --seed ${seed} --exp_tag "${exp_tag}" --expdir ${expdir} --dumpdir ${dumpdir} --redo ${redo}
  --local_data_opts "${local_data_opts}"
  --train_set ${train_set} --valid_set ${valid_set} --test_sets "${test_sets}"
  --feats_opts "${feats_opts}" --min_frames ${min_frames} --max_frames ${max_frames}
  --prompts ${prompts} --train_tasks ${train_tasks} --test_tasks ${test_tasks} --directions "${directions}"
  --llm_path "${llm_path}" --llm_config ${llm_config} --lm_text ${lm_text}
  --encoder_path "${encoder_path}" --encoder_config ${encoder_config} --encoder_model_file ${encoder_model_file}
  --train_config_dir "${train_config_dir}" --train_args "${train_args}" --init_model ${init_model}
  --inference_args "${inference_args}" --inference_phases "${inference_phases}" --score_args "${score_args}"
EOF
)

log "$0 $*"
utils=$(cd "$(dirname "$(readlink -f "$0")")/../../utils" && pwd)
. "${utils}/parse_options.sh"
if [ $# -ne 0 ]; then
  echo "$0: unexpected argument '$1' (options are --name value; see --help)" >&2
  exit 2
fi
[ -f ./path.sh ] && . ./path.sh

case "${method}" in
  part|baseline) ;;
  *) echo "$0: --method must be part or baseline, not '${method}'" >&2; exit 2 ;;
esac
train_config_dir=${train_config_dir:-conf/${method}}
method_dir=${expdir}/${method}${exp_tag}
[ -n "${llm_path}" ] || llm_path=${expdir}/llm
[ -n "${encoder_path}" ] || encoder_path=${expdir}/encoder
encoder_opts=(--encoder_path "${encoder_path}" --encoder_model_file "${encoder_model_file}")
[ "${encoder_path}" = none ] && encoder_opts=()
python=${PYTHON:-python3}
# Several GPUs or nodes: ESPnet's DDP launcher, one process per GPU; with --num_nodes N, run the same command on
# every node with RANK=<node index>, MASTER_ADDR and MASTER_PORT set (docs/real_models.md).
dist_opts=()
if [ "${ngpu}" -gt 1 ] || [ "${num_nodes}" -gt 1 ]; then
  dist_opts=(--multiprocessing_distributed true --dist_world_size "${num_nodes}")
fi

# The PART phases of this method, in order: phase1.yaml, phase2.yaml[, phase3.yaml].
train_phases=()
for n in 1 2 3; do
  [ -f "${train_config_dir}/phase${n}.yaml" ] && train_phases+=("phase${n}")
done
[ ${#train_phases[@]} -gt 0 ] || { echo "$0: no phase*.yaml in ${train_config_dir}" >&2; exit 2; }

# Run one training phase of the method; skip it when finished with the same configuration.
train_phase() {
  local name=$1 prev=$2 outdir=${method_dir}/$1
  local config=${train_config_dir}/${name}.yaml
  local init_opts=()
  if [ -n "${prev}" ]; then
    local init=${method_dir}/${prev}/${init_model}
    [ -e "${init}" ] || { echo "$0: ${name} starts from ${init}, which does not exist: run ${prev} first" >&2; exit 1; }
    init_opts=(--init_param "$(readlink -f "${init}")")
  fi
  local opts=(--config "${config}" --llm_path "${llm_path}" --seed "${seed}" --ngpu "${ngpu}"
              "${dist_opts[@]+"${dist_opts[@]}"}"
              "${encoder_opts[@]+"${encoder_opts[@]}"}"
              --train_data_path_and_name_and_type "${dumpdir}/examples/${train_set}/feats.scp,speech,kaldi_ark"
              --train_data_path_and_name_and_type "${dumpdir}/examples/${train_set}/prompt,prompt,text"
              --train_data_path_and_name_and_type "${dumpdir}/examples/${train_set}/text,text,text"
              --train_shape_file "${dumpdir}/examples/${train_set}/speech_shape"
              --valid_data_path_and_name_and_type "${dumpdir}/examples/${valid_set}/feats.scp,speech,kaldi_ark"
              --valid_data_path_and_name_and_type "${dumpdir}/examples/${valid_set}/prompt,prompt,text"
              --valid_data_path_and_name_and_type "${dumpdir}/examples/${valid_set}/text,text,text"
              --valid_shape_file "${dumpdir}/examples/${valid_set}/speech_shape"
              --resume true --output_dir "${outdir}" "${init_opts[@]}")
  # shellcheck disable=SC2086
  ${python} -m part.bin.run_training --name "${method}/${name}" --output_dir "${outdir}" --redo "${redo}" -- \
      "${opts[@]}" ${train_args}
}

# ==================================================================================================
if [ ${stage} -le 1 ] && [ ${stop_stage} -ge 1 ]; then
  timer_start
  log "Stage 1: data preparation: local/data.sh ${local_data_opts}"
  # shellcheck disable=SC2086
  local/data.sh ${local_data_opts}
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    "${utils}/validate_data_dir.sh" "data/${dset}"
  done
  timer_stop "stage 1: data preparation"
fi

if [ ${stage} -le 2 ] && [ ${stop_stage} -ge 2 ]; then
  timer_start
  log "Stage 2: fbank features and length filtering -> ${dumpdir}/fbank"
  for dset in ${train_set} ${valid_set} ${test_sets}; do
    stats=false; [ "${dset}" = "${train_set}" ] && stats=true
    # shellcheck disable=SC2086
    ${python} -m part.bin.extract_feats --data_dir "data/${dset}" --out_dir "${dumpdir}/fbank/${dset}" \
      --nj "${nj}" --min_frames "${min_frames}" --max_frames "${max_frames}" --compute_stats "${stats}" \
      ${feats_opts}
  done
  timer_stop "stage 2: features"
fi

if [ ${stage} -le 3 ] && [ ${stop_stage} -ge 3 ]; then
  timer_start
  log "Stage 3: task lists (${train_tasks} for training; ${test_tasks} for testing)"
  for dset in ${train_set} ${valid_set}; do
    ${python} -m part.data.examples --feats_dir "${dumpdir}/fbank/${dset}" --out_dir "${dumpdir}/examples/${dset}" \
      --prompts "${prompts}" --tasks "${train_tasks}" --directions "${directions}"
  done
  for dset in ${test_sets}; do
    ${python} -m part.data.examples --feats_dir "${dumpdir}/fbank/${dset}" --out_dir "${dumpdir}/examples/${dset}" \
      --prompts "${prompts}" --tasks "${test_tasks}" --directions "${directions}"
  done
  timer_stop "stage 3: task lists"
  if [ "${llm_path}" = "${expdir}/llm" ]; then
    timer_start
    log "Stage 3: pretraining the in-recipe LLM -> ${llm_path} (${llm_config})"
    ${python} -m part.bin.pretrain_llm --text "${lm_text}/train.jsonl" --valid_text "${lm_text}/dev.jsonl" \
      --prompts "${prompts}" --config "${llm_config}" --out_dir "${llm_path}"
    timer_stop "stage 3: LLM pretraining"
  else
    log "Stage 3: using the LLM in ${llm_path}"
    [ -f "${llm_path}/config.json" ] || ls "${llm_path}"/*.gguf >/dev/null 2>&1 || {
      echo "$0: --llm_path ${llm_path} is not a Hugging Face model directory (no config.json)" >&2; exit 1; }
  fi
  if [ "${encoder_path}" = "${expdir}/encoder" ]; then
    timer_start
    log "Stage 3: pretraining the in-recipe encoder (CTC over the LLM's tokens) -> ${encoder_path}"
    # shellcheck disable=SC2086
    ${python} -m part.bin.run_training --name encoder --output_dir "${encoder_path}" --redo "${redo}" -- \
      --config "${encoder_config}" --model_type ctc_encoder --llm_path "${llm_path}" \
      --ngpu "${ngpu}" "${dist_opts[@]+"${dist_opts[@]}"}" --resume true --output_dir "${encoder_path}" \
      --input_size "$(cat "${dumpdir}/fbank/${train_set}/feat_dim" 2>/dev/null || echo 80)" \
      --encoder_conf stats_file="$(readlink -f "${dumpdir}/fbank/${train_set}/feats_stats.npz")" \
      --train_data_path_and_name_and_type "${dumpdir}/examples/${train_set}/feats.scp,speech,kaldi_ark" \
      --train_data_path_and_name_and_type "${dumpdir}/examples/${train_set}/text,text,text" \
      --train_shape_file "${dumpdir}/examples/${train_set}/speech_shape" \
      --valid_data_path_and_name_and_type "${dumpdir}/examples/${valid_set}/feats.scp,speech,kaldi_ark" \
      --valid_data_path_and_name_and_type "${dumpdir}/examples/${valid_set}/text,text,text" \
      --valid_shape_file "${dumpdir}/examples/${valid_set}/speech_shape" ${train_args}
    timer_stop "stage 3: encoder pretraining"
  elif [ "${encoder_path}" = none ]; then
    log "Stage 3: the encoder is defined by ${train_config_dir}/phase*.yaml"
  else
    log "Stage 3: using the pretrained encoder in ${encoder_path}"
    [ -f "${encoder_path}/config.yaml" ] || { echo "$0: --encoder_path ${encoder_path} has no config.yaml" >&2; exit 1; }
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

[ -n "${inference_phases}" ] || inference_phases=${train_phases[-1]}

if [ ${stage} -le 7 ] && [ ${stop_stage} -ge 7 ]; then
  timer_start
  for st in ${inference_phases}; do
    for dset in ${test_sets}; do
      log "Stage 7: decoding ${dset} (${test_tasks}) with ${method_dir}/${st}/${init_model}"
      # shellcheck disable=SC2086
      ${python} -m part.bin.part_inference --exp_dir "${method_dir}/${st}" --model_file "${init_model}" \
        --data_dir "${dumpdir}/examples/${dset}" --tasks "${test_tasks}" --nj "${nj}" --ngpu "${ngpu}" \
        --out_prefix "${method_dir}/${st}/decode_${dset}" ${inference_args}
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
        # A test set may lack a task (no translations in a Common Voice test set): nothing was decoded.
        cats=${dumpdir}/examples/${dset}/utt2category
        if [ ! -d "${d}" ] && [ -f "${cats}" ] && ! grep -q " ${task}\$" "${cats}"; then
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
  ${python} -m part.bin.part_analyze --method_dir "${method_dir}" --data_dir "${dumpdir}/examples/${valid_set}" \
    --out_dir "${method_dir}/analysis" --ngpu "${ngpu}" --nj "${nj}"
  timer_stop "stage 9: ${method_dir##*/} analysis"
fi

log "Finished stages ${stage}-${stop_stage} in ${SECONDS} s"
