#!/usr/bin/env bash
# WenetSpeech Mandarin ASR with PART: Whisper encoder -> transformer_cnn adapter -> Qwen2.5 with LoRA;
# tested on TEST_NET and TEST_MEETING (CER). Set WENETSPEECH in db.sh (or export it) first.
#
#   ./run.sh --stop_stage 2                     # data and features only: no model needed
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --train_subset S     # the 100 h subset (L 10000 h, M 1000 h)
#   ./run.sh --llm_path ... --whisper_path ... --method baseline    # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --ngpu 1            # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
set -euo pipefail

# ASR only: conf/{part,baseline} link to the template's ASR schedules (egs/TEMPLATE/conf/asr).
../TEMPLATE/part.sh --recipe_opts "train_subset audio_format strict" \
  --train_tasks asr --test_tasks asr \
  "$@"
