#!/usr/bin/env bash
# The embedded default recipe: a multilingual corpus synthesised offline (en de fr es zh ja), a tiny
# LLM and a small encoder pretrained in-recipe, then PART (or Baseline-2stage) on top.
#
#   ./run.sh                              # stages 1-8 of PART, default size
#   ./run.sh --method baseline            # Baseline-2stage on the same data and models
#   ./run.sh --stage 4 --stop_stage 6     # only the three PART training phases
#   ./run.sh --size tiny                  # the CI-sized world, in size_tiny/
#   ./run.sh --langs en,de,zh             # fewer languages
set -euo pipefail

# Sizes (tiny | default | large) differ in data (local/data.sh --size), in training budget
# (conf/size_<size>.args) and in the in-recipe LLM (conf/llm_<size>.yaml). Features are dumped (a few
# hours of audio; on 2 CPU cores reading them is cheaper than computing them every epoch); --feats_type raw
# runs the same recipe on shards with features made on the fly.
../TEMPLATE/part.sh --recipe_opts "langs" --size default --feats_type fbank "$@"
