#!/usr/bin/env bash
# Sourced by the utils/ scripts that run Python: sets ${python} to the part environment's interpreter
# and puts the repository on PYTHONPATH, so the scripts work with or without an activated venv.
#
#   . "$(dirname "$0")/find_python.sh"; "${python}" -m part.bin.datadir ...
#
# Order: $PART_PYTHON if set; python3 of an activated virtual environment; the repository's
# tools/venv (found through symlinked utils/ dirs too); python3 on PATH.

_fp_root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/..
if [ -n "${PART_PYTHON:-}" ]; then
  python=${PART_PYTHON}
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "${VIRTUAL_ENV}/bin/python" ]; then
  python=${VIRTUAL_ENV}/bin/python
elif [ -x "${_fp_root}/tools/venv/bin/python" ]; then
  python=${_fp_root}/tools/venv/bin/python
else
  python=python3
fi
export PYTHONPATH=${_fp_root}${PYTHONPATH:+:${PYTHONPATH}}
unset _fp_root
