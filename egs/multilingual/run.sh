#!/usr/bin/env bash
# The paper's setting: Common Voice 15 + FLEURS ASR and CoVoST 2 xx->en speech translation in one
# training set, one test set per corpus, with PART: Whisper encoder -> transformer_cnn adapter -> Qwen2.5
# with LoRA. Set COMMONVOICE, FLEURS, COVOST2 (and COVOST2_CV_ROOT) in db.sh first.
#
#   ./run.sh --llm_path /models/Qwen2.5-7B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --fleurs_langs "" --covost_pairs de_en    # "" leaves a corpus out
# Every other option is egs/TEMPLATE/part.sh's; see README.md and docs/real_models.md.
set -euo pipefail

cv_langs=en,de,fr,es,it,ja,zh-CN                               # Common Voice locales ("" for none)
fleurs_langs=en_us,de_de,fr_fr,es_419,it_it,ja_jp,cmn_hans_cn  # FLEURS configs ("" for none)
covost_pairs=de_en,fr_en,es_en,it_en,ja_en,zh-CN_en            # CoVoST 2 directions ("" for none)
llm_path=             # local Hugging Face LLM dir (e.g. Qwen2.5-7B-Instruct); required
whisper_path=         # local Hugging Face Whisper dir (e.g. whisper-large-v3); empty: in-recipe Conformer
feats_opts=           # extra options of stage 2 (part.bin.extract_feats)
train_args=           # extra options of part_train for every training phase

args=(); help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --cv_langs|--fleurs_langs|--covost_pairs|--llm_path|--whisper_path|--feats_opts|--train_args)
      declare "${1#--}=$2"; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; help=true; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
. ../TEMPLATE/real_models.sh   # checks --llm_path; --whisper_path -> Whisper features and encoder

# local/data.sh makes test_<corpus> for each corpus in use ("," passes an empty list through part.sh).
test_sets=""; test_tasks=asr
[ -n "${cv_langs}" ] && test_sets+=" test_commonvoice"
[ -n "${fleurs_langs}" ] && test_sets+=" test_fleurs"
[ -n "${covost_pairs}" ] && test_sets+=" test_covost2" && test_tasks=asr,s2tt
../TEMPLATE/part.sh \
  --local_data_opts "--cv_langs ${cv_langs:-,} --fleurs_langs ${fleurs_langs:-,} --covost_pairs ${covost_pairs:-,}" \
  --train_set train --valid_set dev --test_sets "${test_sets# }" \
  --train_tasks asr,s2tt,mt --test_tasks "${test_tasks}" --directions "*-en" \
  --prompts conf/prompts.yaml --encoder_config conf/encoder.yaml \
  "${model_opts[@]}" --feats_opts "${feats_opts}" --train_args "${train_args}" \
  "${args[@]+"${args[@]}"}"
