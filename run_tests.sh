#!/usr/bin/env bash
# The test suite on a fresh machine: installs what is missing (tools/install.sh), then runs pytest.
#   ./run_tests.sh                 # everything CI runs
#   ./run_tests.sh -m "not slow"   # skip the end-to-end recipe tests
#   ./run_tests.sh tests/test_scoring.py -k sclite
set -euo pipefail
cd "$(dirname "$0")"
tools/install.sh
. tools/activate_python.sh
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"
exec python -m pytest -q -p no:cacheprovider "$@"
