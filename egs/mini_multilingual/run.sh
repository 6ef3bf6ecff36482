#!/usr/bin/env bash
# The embedded default recipe: a multilingual corpus synthesised offline (en de fr es zh ja), a tiny
# LLM and a small encoder pretrained in-recipe, then PART (or Baseline-2stage) on top.
#
#   ./run.sh                              # stages 1-8 of PART, default size
#   ./run.sh --method baseline            # Baseline-2stage on the same data and models
#   ./run.sh --stage 4 --stop_stage 6     # only the three PART training phases
#   ./run.sh --size tiny                  # the CI-sized world, in size_tiny/
set -euo pipefail

template=$(cd "$(dirname "$(readlink -f "$0")")/../TEMPLATE" && pwd)
size=default          # tiny | default | large: corpus size and training budget
langs=en,de,fr,es,zh,ja  # comma separated

# Options this file consumes; everything else goes to ../TEMPLATE/part.sh.
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --langs) langs=$2; shift 2 ;;
    --help|-h) sed -n '2,9p' "$0"; echo "  --size ${size}  --langs ${langs}"; echo; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "${size}" in
  tiny|default|large) ;;
  *) echo "$0: --size must be tiny, default or large" >&2; exit 2 ;;
esac

# Sizes differ in data (local/data.sh) and in budget (conf/size_<size>.args: iterations per epoch etc.).
# Each size other than the default lives in its own working dir size_<size>/ (data/, dump/, exp/), so
# that sizes never overwrite each other's corpus or results.
if [ "${size}" != default ]; then
  mkdir -p "size_${size}"
  for f in conf local path.sh; do ln -sfn "../${f}" "size_${size}/${f}"; done
  ln -sfn ../../../utils "size_${size}/utils"
  cd "size_${size}"
  echo "$0: --size ${size}: working in $(pwd)"
fi
# shellcheck disable=SC2046
"${template}/part.sh" \
  --local_data_opts "--size ${size} --langs ${langs}" \
  --train_set train --valid_set dev --test_sets "test" \
  --prompts conf/prompts.yaml --llm_config "conf/llm_${size}.yaml" --encoder_config conf/encoder.yaml \
  --train_args "$(cat "conf/size_${size}.args")" \
  "${args[@]+"${args[@]}"}"
