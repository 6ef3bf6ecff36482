#!/usr/bin/env bash
# Turn a spk2utt file (`spk utt1 utt2 ...` lines) into utt2spk (`utt spk`), sorted by utterance in
# C-locale order. Reads the file named, or stdin; writes stdout.
set -euo pipefail
echo "$0 $*" >&2

help_message="Usage: $0 [<spk2utt>] > utt2spk
e.g.: $0 data/train/spk2utt > data/train/utt2spk"

. "$(dirname "$0")/parse_options.sh"
[ $# -le 1 ] || usage_error

awk '
  NF == 1 { printf("%s: line %d: speaker %s has no utterances\n", FILENAME, FNR, $1) > "/dev/stderr"; bad = 1; exit 1 }
  { for (i = 2; i <= NF; i++) print $i, $1 }
' "${1:--}" | LC_ALL=C sort -k1,1 -s
