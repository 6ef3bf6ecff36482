#!/usr/bin/env bash
# Turn an utt2spk file (`utt spk` lines) into spk2utt (`spk utt1 utt2 ...`), sorted by speaker in
# C-locale order, each speaker's utterances in the order of the input.
# Reads the file named, or stdin; writes stdout.
set -euo pipefail
echo "$0 $*" >&2

help_message="Usage: $0 [<utt2spk>] > spk2utt
e.g.: $0 data/train/utt2spk > data/train/spk2utt"

. "$(dirname "$0")/parse_options.sh"
[ $# -le 1 ] || usage_error

awk '
  NF == 0 { next }
  NF != 2 { printf("%s: line %d: expected `utt spk`, got: %s\n", FILENAME, FNR, $0) > "/dev/stderr"; bad = 1; exit 1 }
  !($2 in utts) { order[++n] = $2; utts[$2] = $1; next }
  { utts[$2] = utts[$2] " " $1 }
  END { if (bad) exit 1; for (i = 1; i <= n; i++) print order[i], utts[order[i]] }
' "${1:--}" | LC_ALL=C sort -k1,1 -s
