#!/usr/bin/env bash
# Split an `id value` file (wav.scp, feats.scp, text, ...) into N contiguous parts of about equal
# size, e.g. one per parallel job. With --utt2spk, all lines of one speaker go to the same part (the
# speaker's lines must be contiguous, as they are in a sorted data dir with speaker-prefixed ids).
# It is an error to ask for more parts than there are lines (or speakers).
set -euo pipefail
echo "$0 $*" >&2

utt2spk=  # keep each speaker's lines together, using this utt2spk file

help_message="Usage: $0 [--utt2spk <utt2spk>] <in.scp> <out1.scp> [<out2.scp> ...]
Options:
  --utt2spk <file>   keep every speaker's lines in one part
e.g.: $0 data/train/wav.scp exp/split/wav.1.scp exp/split/wav.2.scp"

. "$(dirname "$0")/parse_options.sh"
[ $# -ge 2 ] || usage_error
in_scp=$1
shift
for out in "$@"; do
  mkdir -p "$(dirname "${out}")"
done

# The output names reach awk through the environment (one per line), untouched by awk's escapes.
SPLIT_SCP_OUTPUTS=$(printf '%s\n' "$@") awk -v nparts=$# -v with_spk="$([ -n "${utt2spk}" ] && echo 1 || echo 0)" '
  function fail(msg) { printf("split_scp.sh: %s\n", msg) > "/dev/stderr"; failed = 1; exit 1 }
  BEGIN { split(ENVIRON["SPLIT_SCP_OUTPUTS"], outs, "\n") }
  with_spk && FILENAME == ARGV[1] { spk_of[$1] = $2; next }
  NF == 0 { next }
  {
    lines[++nlines] = $0
    key = with_spk ? spk_of[$1] : $1
    if (with_spk && key == "") fail(sprintf("%s line %d: %s is not in the utt2spk file", FILENAME, FNR, $1))
    if (nlines == 1 || key != prev) {
      if (with_spk && (key in seen))
        fail(sprintf("%s line %d: the lines of speaker %s are not contiguous; sort the file", FILENAME, FNR, key))
      seen[key] = 1; group_start[++ngroups] = nlines
    }
    prev = key
  }
  END {
    if (failed) exit 1
    if (ngroups < nparts)
      fail(sprintf("cannot split %d %s into %d parts", ngroups, with_spk ? "speakers" : "lines", nparts))
    group_start[ngroups + 1] = nlines + 1
    # Each group goes to the part that its middle line falls in: contiguous, balanced parts.
    for (g = 1; g <= ngroups; g++) {
      middle = (group_start[g] + group_start[g + 1] - 2) / 2
      part = int(middle * nparts / nlines) + 1
      # Parts stay contiguous, none is skipped, and every part still to come keeps a group.
      if (part < last_part) part = last_part
      if (part > last_part + 1) part = last_part + 1
      if (ngroups - g < nparts - part) part = nparts - (ngroups - g)
      for (i = group_start[g]; i < group_start[g + 1]; i++) print lines[i] > outs[part]
      last_part = part
    }
  }
' ${utt2spk:+"${utt2spk}"} "${in_scp}"
