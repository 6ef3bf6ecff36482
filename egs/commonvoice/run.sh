#!/usr/bin/env bash
# Common Voice 15 ASR (the paper's CommonVoice-15 languages) with PART: Whisper encoder -> transformer_cnn
# adapter -> Qwen2.5 with LoRA. Set COMMONVOICE in db.sh (or export it) first.
#
#   ./run.sh --stop_stage 2                     # data and features only: no model needed
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --ngpu 1            # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
#   ./run.sh --langs de,zh-CN --llm_path ...    # other locales
set -euo pipefail

# ASR only: conf/{part,baseline} link to the template's ASR schedules (egs/TEMPLATE/conf/asr).
../TEMPLATE/part.sh --recipe_opts "langs train_tsv audio_format strict" \
  --train_tasks asr --test_tasks asr \
  "$@"
