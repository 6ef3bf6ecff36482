#!/usr/bin/env bash
# Source this file to put the part environment and SCTK's sclite on PATH.
_part_tools=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_part_venv=${PART_VENV:-${_part_tools}/venv}
if [ ! -f "${_part_venv}/bin/activate" ]; then
  echo "part: no environment at ${_part_venv}; run tools/install.sh first" >&2
  return 1 2>/dev/null || exit 1
fi
# shellcheck disable=SC1091
. "${_part_venv}/bin/activate"
[ -d /usr/lib/sctk/bin ] && export PATH="${PATH}:/usr/lib/sctk/bin"
export PYTHONIOENCODING=UTF-8 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# ESPnet's import tries to download nltk data; there is no network for it.
export NLTK_DATA=${NLTK_DATA:-${_part_tools}/nltk_data}
unset _part_tools _part_venv
