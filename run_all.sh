#!/usr/bin/env bash
# The main job on a fresh machine: install if needed, then the embedded recipe end to end —
# synthesise the multilingual corpus, pretrain the tiny LLM and encoder, train PART and
# Baseline-2stage on the same data and models with the same number of updates that carry gradient,
# decode and score every training phase of both, and print the comparison: the phase-by-phase
# trajectory, PART − Baseline with paired bootstrap 95% intervals, failure counts.
#
#   ./run_all.sh                              # default size (about 25 minutes on 2 idle CPU cores after installation)
#   ./run_all.sh --size tiny                  # a quick look (a few minutes)
#   ./run_all.sh --seeds "1 2 3"              # repeat the comparison over several seeds (mean and spread)
#   ./run_all.sh --adapter transformer_cnn    # the paper's adapter (2 Transformer layers + a CNN, random init)
#   ./run_all.sh --size large                 # more data and training (well over an hour)
#
# Every run of one size shares the corpus, features, LLM and encoder; each adapter and seed trains its own
# exp/<method>_<adapter>_seed<N>/, and RESULTS.md (in the recipe dir) reports all of them.
set -euo pipefail
cd "$(dirname "$0")"

size=default           # tiny | default | large (egs/mini_multilingual's sizes)
seeds="1"              # training seeds of the comparison, space separated
adapter=ctc_posterior  # ctc_posterior (CTC posteriors x the LLM's embeddings; the default: the paper's
                       # adapter needs more updates than the 25-minute budget has) | transformer_cnn (the paper's)
help_message=$(sed -n '2,/^set /s/^# \{0,1\}//p' "$0")
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "$0: unexpected argument '$1' (options are --size, --seeds and --adapter; try --help)" >&2
                  exit 2; }

tools/install.sh
# PART_RECIPE_DIR: another copy of the embedded recipe to run in (the integration test uses one).
recipe_dir=${PART_RECIPE_DIR:-egs/mini_multilingual}
repo=$(pwd)
cd "${recipe_dir}"
[ -f "conf/adapter_${adapter}.args" ] || { echo "$0: --adapter ${adapter}: no conf/adapter_${adapter}.args in" \
  "${recipe_dir} (adapters: $(cd conf && ls adapter_*.args | sed 's/^adapter_//; s/\.args$//' | xargs))" >&2; exit 2; }
adapter_args=$(cat "conf/adapter_${adapter}.args")
workdir=.
[ "${size}" = default ] || workdir=size_${size}  # run.sh keeps each non-default size in its own dir
expdir=exp
start=${SECONDS}
command="./run_all.sh --size ${size} --seeds '${seeds}' --adapter ${adapter}"
mkdir -p "${workdir}/${expdir}"
# Provenance, reported in RESULTS.md: the revision of the code and how many files of the work tree differ
# from it (the reports this job writes do not count), one line per run.
revision=$(git -C "${repo}" rev-parse HEAD 2>/dev/null || echo unknown)
changed=$("${repo}/utils/worktree_changes.sh" "${repo}")
printf '%s\t%s\t%s\t%s\n' "$(date '+%Y-%m-%dT%H:%M:%S')" "${revision}" "${changed}" "${command}" \
  >> "${workdir}/${expdir}/runs.tsv"
# Wall time of every step (egs/TEMPLATE/part.sh appends to it, run after run): printed and put in the report.
export PART_TIMING
PART_TIMING=$(cd "${workdir}/${expdir}" && pwd)/wall_time.tsv
# Data, features, task lists, in-recipe LLM and encoder: shared by both methods, every adapter and seed.
./run.sh --size "${size}" --expdir "${expdir}" --stage 1 --stop_stage 3
# Every training phase is decoded and scored (the trajectory); the failure counts identify languages with a
# character n-gram model trained on the training transcripts.
for seed in ${seeds}; do
  for method in part baseline; do
    phases=$(cd "conf/${method}" && ls phase*.yaml | sed 's/\.yaml$//' | xargs)
    ./run.sh --size "${size}" --expdir "${expdir}" --method "${method}" --seed "${seed}" \
      --exp_tag "_${adapter}_seed${seed}" --train_args "${adapter_args}" --inference_phases "${phases}" \
      --score_args "--lid_data data/train" --stage 4 --stop_stage 8
  done
done
# Stage 9 (analysis: gradient similarity across languages and tasks, representation plots) for the
# first seed; the second method's analysis also draws the side-by-side comparison.
first_seed=${seeds%% *}
for method in part baseline; do
  ./run.sh --size "${size}" --expdir "${expdir}" --method "${method}" --seed "${first_seed}" \
    --exp_tag "_${adapter}_seed${first_seed}" --train_args "${adapter_args}" --stage 9 --stop_stage 9
done
cd "${workdir}"
. ./path.sh
echo
echo "=== PART vs Baseline-2stage (${expdir}; error = WER, CER for zh/ja; BLEU for translation) ==="
report=RESULTS.md
python -m part.bin.make_results --exp_dir "${expdir}" --out "${report}" --title "Embedded recipe, size ${size}" \
  --produced_by "${command}" --wall_time "${expdir}/wall_time.tsv"
echo
echo "Main job finished in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s."
where=${recipe_dir}/${workdir#./}
where=${where%/.}
echo "Report: ${where}/${report} (figures: ${where}/figures/); curves: ${where}/${expdir}/*/phase*/images/;"
echo "scoring details and failure labels: ${where}/${expdir}/*/phase*/decode_*/{score_*/,failures}"
echo "analysis: ${where}/${expdir}/*_${adapter}_seed${first_seed}/analysis/README.md"
