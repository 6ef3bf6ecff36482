#!/usr/bin/env bash
# The main job on a fresh machine: install if needed, then the embedded recipe end to end —
# synthesise the multilingual corpus, pretrain the tiny LLM and encoder, train PART and
# Baseline-2stage on the same data and models, decode, score, and print the comparison.
#
#   ./run_all.sh                    # default size (about 22 minutes on 2 CPU cores after installation)
#   ./run_all.sh --size tiny        # a quick look (a minute or two)
#   ./run_all.sh --seeds "1 2 3"    # repeat the comparison over several seeds (mean and spread)
#   ./run_all.sh --size large       # more data and training (well over an hour)
set -euo pipefail
cd "$(dirname "$0")"

size=default   # tiny | default | large (egs/mini_multilingual's sizes)
seeds="1"      # training seeds of the comparison, space separated
help_message=$(sed -n '2,/^set /s/^# \{0,1\}//p' "$0")
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (options are --size and --seeds; try --help)" >&2; exit 2; }

tools/install.sh
# PART_RECIPE_DIR: another copy of the embedded recipe to run in (the integration test uses one).
recipe_dir=${PART_RECIPE_DIR:-egs/mini_multilingual}
cd "${recipe_dir}"
workdir=.
[ "${size}" = default ] || workdir=size_${size}  # run.sh keeps each non-default size in its own dir
expdir=exp
start=${SECONDS}
# Wall time of every step (egs/TEMPLATE/part.sh appends to it, run after run): printed and put in the report.
mkdir -p "${workdir}/${expdir}"
export PART_TIMING
PART_TIMING=$(cd "${workdir}/${expdir}" && pwd)/wall_time.tsv
# Data, features, task lists, in-recipe LLM and encoder: shared by both methods and every seed.
./run.sh --size "${size}" --expdir "${expdir}" --stage 1 --stop_stage 3
for seed in ${seeds}; do
  for method in part baseline; do
    ./run.sh --size "${size}" --expdir "${expdir}" --method "${method}" --seed "${seed}" \
      --exp_tag "_seed${seed}" --stage 4 --stop_stage 8
  done
done
# Stage 9 (analysis: gradient similarity across languages and tasks, representation plots) for the
# first seed; the second method's analysis also draws the side-by-side comparison.
first_seed=${seeds%% *}
for method in part baseline; do
  ./run.sh --size "${size}" --expdir "${expdir}" --method "${method}" --seed "${first_seed}" \
    --exp_tag "_seed${first_seed}" --stage 9 --stop_stage 9
done
cd "${workdir}"
. ./path.sh
echo
echo "=== PART vs Baseline-2stage (${expdir}; error = WER, CER for zh/ja; BLEU for translation) ==="
report=RESULTS.md
python -m part.bin.make_results --exp_dir "${expdir}" --out "${report}" --title "Embedded recipe, size ${size}" \
  --produced_by "./run_all.sh --size ${size} --seeds '${seeds}'" --wall_time "${expdir}/wall_time.tsv"
echo
echo "Main job finished in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s."
where=${recipe_dir}/${workdir#./}
where=${where%/.}
echo "Report: ${where}/${report}; curves: ${where}/${expdir}/*/phase*/images/;"
echo "scoring details: ${where}/${expdir}/*/phase*/decode_*/score_*/"
echo "analysis: ${where}/${expdir}/*_seed${first_seed}/analysis/README.md"
