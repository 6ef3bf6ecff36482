#!/usr/bin/env bash
# FLEURS ASR (the paper's FLEURS languages) with PART: Whisper encoder -> transformer_cnn adapter ->
# Qwen2.5 with LoRA. Set FLEURS in db.sh (or export it) first.
#
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --translate_to en  # + speech translation into English (FLEURS is n-way parallel)
#   ./run.sh --llm_path ... --ngpu 1           # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
# Every other option is egs/TEMPLATE/part.sh's; see README.md and docs/real_models.md.
set -euo pipefail

langs=en_us,de_de,fr_fr,es_419,it_it,ja_jp,cmn_hans_cn  # FLEURS configs
translate_to=         # e.g. en: S2TT (and text MT) towards en from FLEURS' parallel transcripts
llm_path=             # local Hugging Face LLM dir (e.g. Qwen2.5-1.5B-Instruct); required
whisper_path=         # local Hugging Face Whisper dir (e.g. whisper-large-v3); empty: in-recipe Conformer
feats_opts=           # extra options of stage 2 (part.bin.extract_feats)
train_args=           # extra options of part_train for every training phase

args=(); help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --langs|--translate_to|--llm_path|--whisper_path|--feats_opts|--train_args) declare "${1#--}=$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; help=true; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
. ../TEMPLATE/real_models.sh   # checks --llm_path; --whisper_path -> Whisper features and encoder

data_opts="--langs ${langs}"; train_tasks=asr; test_tasks=asr
if [ -n "${translate_to}" ]; then
  data_opts+=" --translate_to ${translate_to}"; train_tasks=asr,s2tt,mt; test_tasks=asr,s2tt
fi
../TEMPLATE/part.sh \
  --local_data_opts "${data_opts}" \
  --train_set train --valid_set dev --test_sets "test_fleurs" \
  --train_tasks "${train_tasks}" --test_tasks "${test_tasks}" \
  --prompts conf/prompts.yaml --encoder_config conf/encoder.yaml \
  "${model_opts[@]}" --feats_opts "${feats_opts}" --train_args "${train_args}" \
  "${args[@]+"${args[@]}"}"
