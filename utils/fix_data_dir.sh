#!/usr/bin/env bash
# Repair a Kaldi data dir in place: keep only the utterances present (and usable) in every file of
# text, utt2spk, utt2lang and wav.scp/segments, sort every file in C-locale order, rebuild spk2utt
# from utt2spk, restrict text.<tgt> and the other per-id files to what is kept. Prints how many
# utterances were dropped and why. The original files are kept in <data-dir>/.backup/.
# Exit status 1 when problems that cannot be fixed this way remain (e.g. unknown language codes).
set -euo pipefail
echo "$0 $*" >&2

help_message="Usage: $0 <data-dir>
Keep only utterances present in all files, sort, rebuild spk2utt; originals go to <data-dir>/.backup/.
e.g.: $0 data/train"

utils_dir=$(dirname "$0")
. "${utils_dir}/parse_options.sh"
[ $# -eq 1 ] || usage_error
. "${utils_dir}/find_python.sh"

"${python}" -m part.bin.datadir fix "$1"
