#!/usr/bin/env bash
# WenetSpeech Mandarin ASR with PART: Whisper encoder -> transformer_cnn adapter -> Qwen2.5 with LoRA;
# tested on TEST_NET and TEST_MEETING (CER). Set WENETSPEECH in db.sh (or export it) first.
#
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --train_subset S     # the 100 h subset (L 10000 h, M 1000 h)
#   ./run.sh --llm_path ... --whisper_path ... --method baseline    # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --ngpu 1           # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
# Every other option is egs/TEMPLATE/part.sh's; see README.md and docs/real_models.md.
set -euo pipefail

train_subset=M        # L | M | S | W
llm_path=             # local Hugging Face LLM dir (e.g. Qwen2.5-1.5B-Instruct); required
whisper_path=         # local Hugging Face Whisper dir (e.g. whisper-large-v3); empty: in-recipe Conformer
feats_opts=           # extra options of stage 2 (part.bin.extract_feats)
train_args=           # extra options of part_train for every training phase

args=(); help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --train_subset|--llm_path|--whisper_path|--feats_opts|--train_args) declare "${1#--}=$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; help=true; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
. ../TEMPLATE/real_models.sh   # checks --llm_path; --whisper_path -> Whisper features and encoder

../TEMPLATE/part.sh \
  --local_data_opts "--train_subset ${train_subset}" \
  --train_set train --valid_set dev --test_sets "test_wenetspeech_net test_wenetspeech_meeting" \
  --train_tasks asr --test_tasks asr \
  --prompts conf/prompts.yaml --encoder_config conf/encoder.yaml \
  "${model_opts[@]}" --feats_opts "${feats_opts}" --train_args "${train_args}" \
  "${args[@]+"${args[@]}"}"
