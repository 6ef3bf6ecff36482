#!/usr/bin/env bash
# The paper's setting: Common Voice 15 + FLEURS ASR and CoVoST 2 xx->en speech translation in one
# training set, one test set per corpus, with PART: Whisper encoder -> transformer_cnn adapter -> Qwen2.5
# with LoRA. Set COMMONVOICE, FLEURS, COVOST2 (and COVOST2_CV_ROOT) in db.sh first.
#
#   ./run.sh --stop_stage 2                     # data and features only: no model needed
#   ./run.sh --llm_path /models/Qwen2.5-7B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --fleurs_langs "" --covost_pairs de_en    # "" leaves a corpus out
set -euo pipefail

# Stage 1 makes test_commonvoice, test_fleurs and test_covost2 for the corpora in use; S2TT is decoded and
# scored where a test set has translations.
../TEMPLATE/part.sh \
  --recipe_opts "cv_langs fleurs_langs covost_pairs train_tsv fleurs_translate_to audio_format strict" \
  --train_tasks asr,s2tt,mt --test_tasks asr,s2tt --directions "*-en" \
  "$@"
