#!/usr/bin/env bash
# CoVoST 2 xx->en speech translation (BLEU) and source-language ASR with PART: Whisper encoder ->
# transformer_cnn adapter -> Qwen2.5 with LoRA. Set COVOST2 and COVOST2_CV_ROOT (or COMMONVOICE) in db.sh.
#
#   ./run.sh --stop_stage 2                     # data and features only: no model needed
#   ./run.sh --llm_path /models/Qwen2.5-7B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --pairs fr_en,de_en,zh-CN_en              # other directions
#   ./run.sh --llm_path ... --ngpu 1            # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
set -euo pipefail

# text: the source transcript (ASR); text.en: the translation (S2TT, and text MT from the transcript).
../TEMPLATE/part.sh --recipe_opts "pairs audio_format strict" \
  --train_tasks asr,s2tt,mt --test_tasks asr,s2tt --directions "*-en" \
  "$@"
