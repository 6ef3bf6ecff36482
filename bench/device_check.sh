#!/usr/bin/env bash
# The accelerator figures of issue 17 in one call on a GPU machine (an H100/H200 of the device tool):
# exact batched encoding on CUDA (tests/test_encoders.py), bench_throughput.py --preset paper-2b (then
# paper-8b), and bench_decode.py on the GPU. Everything it prints also goes to $OUT (default
# /tmp/device_check_out): device_check.log and the benchmarks' JSON files.
#
# Usage:
#   bench/device_check.sh --prepare   # HERE, where pip reaches the registry: wheels into .whl/ (git-ignored)
#   bench/device_check.sh             # THERE, with .whl carried along, e.g. with the device tool:
#                                     #   run(command="bash bench/device_check.sh", carry=[".whl"], timeout_s=600)
#   bench/device_check.sh --quick     # the same, without paper-8b
#
# The GPU machine reaches no package registry: nothing can be pip-installed there. Its image has PyTorch,
# transformers, peft, numpy, PyYAML and pytest; the part code needs four more packages, all of them in
# tools/requirements.txt's closure (ESPnet itself, installed with --no-deps by tools/install.sh):
# espnet (the Conformer of bench_decode and the exactness tests), typeguard (ESPnet's), soundfile and
# cffi + pycparser (its binding; part.bin.extract_feats reads audio with it). --prepare downloads
# them, pure-Python or manylinux wheels for that machine's Python 3.12, at this venv's versions (about
# 3 MB, ~10 s); the check installs them with --no-index into /tmp/site (~5 s).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${repo}"
wheels=${WHEEL_DIR:-${repo}/.whl}
packages=(espnet typeguard soundfile cffi pycparser)

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

if [ "${1:-}" = "--prepare" ]; then
  set -e
  python=${PYTHON:-${repo}/tools/venv/bin/python}
  mkdir -p "${wheels}"
  start=$(date +%s)
  for package in "${packages[@]}"; do
    version=$("${python}" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "${package}")
    "${python}" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "${wheels}" "${package}==${version}"
  done
  echo "device_check --prepare: $(ls "${wheels}" | wc -l) wheels ($(du -sh "${wheels}" | cut -f1)) in ${wheels}," \
       "$(( $(date +%s) - start )) s. Carry '.whl' in the device call."
  exit 0
fi

quick=false
[ "${1:-}" = "--quick" ] && quick=true
out=${OUT:-/tmp/device_check_out}
mkdir -p "${out}"
log=${out}/device_check.log
: > "${log}"
say() { echo "$*" | tee -a "${log}"; }
failed=()
step() {  # step <name> <command...>: run, log, remember a failure, go on
  local name=$1; shift
  say ""
  say "===== ${name}: $* ($(date '+%H:%M:%S'))"
  local t0=$(date +%s)
  "$@" 2>&1 | tee -a "${log}"
  local rc=${PIPESTATUS[0]}
  say "===== ${name}: exit ${rc} after $(( $(date +%s) - t0 )) s"
  [ "${rc}" = 0 ] || failed+=("${name}")
}

export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export NLTK_DATA=${repo}/tools/nltk_data
python=${PYTHON:-python3}
if ls "${wheels}"/*.whl >/dev/null 2>&1; then
  step install-wheels "${python}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "${wheels}"/*.whl
  export PYTHONPATH=/tmp/site:${repo}
else
  say "no wheels in ${wheels}: run 'bench/device_check.sh --prepare' where pip works and carry .whl"
  export PYTHONPATH=${repo}
fi

step environment bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; ${python} -c '
import torch, transformers, peft
print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"transformers\", transformers.__version__,
      \"peft\", peft.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else \"NO CUDA\")'"
step exactness-tests env PART_TEST_DEVICES=cpu,cuda "${python}" -m pytest -q -p no:cacheprovider \
  tests/test_encoders.py -rs
step throughput-paper-2b "${python}" bench/bench_throughput.py --preset paper-2b --json "${out}/throughput_paper-2b.json"
step decode-recipe-encoder "${python}" bench/bench_decode.py --device cuda --repeats 2 --json "${out}/decode_recipe.json"
step decode-exact-encoder "${python}" bench/bench_decode.py --device cuda --repeats 2 --encoder_conf rel_pos_type=latest \
  --json "${out}/decode_latest.json"
if ! ${quick}; then
  step throughput-paper-8b "${python}" bench/bench_throughput.py --preset paper-8b --json "${out}/throughput_paper-8b.json"
fi

say ""
say "===== summary"
grep -h -E "^bench_(throughput|decode):|passed|failed" "${log}" | grep -v "^=====" | tee -a "${log}.summary" >/dev/null
cat "${log}.summary" | tee -a "${log}"
rm -f "${log}.summary"
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED steps: ${failed[*]}"
  exit 1
fi
say "all steps passed"
