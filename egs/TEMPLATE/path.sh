# Environment of a recipe: the part virtual environment, SCTK's sclite, and offline Hugging Face.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
# shellcheck disable=SC1091
. "${MAIN_ROOT}/tools/activate_python.sh"
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
# Threads are chosen per step by egs/TEMPLATE/part.sh (part/threads.py); export OMP_NUM_THREADS to fix them.
export LC_ALL=C.UTF-8
