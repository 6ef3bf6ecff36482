#!/usr/bin/env bash
# FLEURS ASR (the paper's FLEURS languages) with PART: Whisper encoder -> transformer_cnn adapter ->
# Qwen2.5 with LoRA. Set FLEURS in db.sh (or export it) first.
#
#   ./run.sh --stop_stage 2                     # data and features only: no model needed
#   ./run.sh --llm_path /models/Qwen2.5-1.5B-Instruct --whisper_path /models/whisper-large-v3 --ngpu 1
#   ./run.sh --llm_path ... --whisper_path ... --method baseline      # Baseline-2stage, same data and models
#   ./run.sh --llm_path ... --ngpu 1            # no Whisper: stage 3 pretrains a Conformer (conf/encoder.yaml)
#   ./run.sh --langs de_de,cmn_hans_cn --llm_path ...                # other languages
# Speech translation into English from FLEURS' parallel transcripts, with the ASR + S2TT + MT schedules:
#   ./run.sh --translate_to en --train_tasks asr,s2tt,mt --test_tasks asr,s2tt --train_config_dir conf/st/part ...
set -euo pipefail

# ASR by default: conf/{part,baseline} link to the template's ASR schedules, conf/st/ to those with translation.
../TEMPLATE/part.sh --recipe_opts "langs transcript translate_to audio_format strict" \
  --train_tasks asr --test_tasks asr \
  "$@"
