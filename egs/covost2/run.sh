#!/usr/bin/env bash
# CoVoST 2 xx->en speech translation (BLEU) and source-language ASR with PART: Whisper encoder ->
# transformer_cnn adapter -> Qwen2.5 with LoRA. Set COVOST2 and COVOST2_CV_ROOT (or COMMONVOICE) in db.sh.
#
#   ./run.sh --llm_path /models/Qwen2.5-7B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --pairs fr_en,de_en,zh-CN_en
#   ./run.sh --llm_path ... --ngpu 1           # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
# Every other option is egs/TEMPLATE/part.sh's; see README.md and docs/real_models.md.
set -euo pipefail

pairs=de_en,fr_en,es_en,it_en,ja_en,zh-CN_en  # CoVoST 2 directions (file names covost_v2.<src>_<tgt>.tsv)
llm_path=             # local Hugging Face LLM dir (e.g. Qwen2.5-7B-Instruct); required
whisper_path=         # local Hugging Face Whisper dir (e.g. whisper-large-v3); empty: in-recipe Conformer
feats_opts=           # extra options of stage 2 (part.bin.extract_feats)
train_args=           # extra options of part_train for every training phase

args=(); help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs|--llm_path|--whisper_path|--feats_opts|--train_args) declare "${1#--}=$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; help=true; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
. ../TEMPLATE/real_models.sh   # checks --llm_path; --whisper_path -> Whisper features and encoder

# text: the source transcript (ASR); text.en: the translation (S2TT, and text MT from the transcript).
../TEMPLATE/part.sh \
  --local_data_opts "--pairs ${pairs}" \
  --train_set train --valid_set dev --test_sets "test_covost2" \
  --train_tasks asr,s2tt,mt --test_tasks asr,s2tt --directions "*-en" \
  --prompts conf/prompts.yaml --encoder_config conf/encoder.yaml \
  "${model_opts[@]}" --feats_opts "${feats_opts}" --train_args "${train_args}" \
  "${args[@]+"${args[@]}"}"
