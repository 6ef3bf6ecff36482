#!/usr/bin/env bash
# Check a Kaldi data dir against docs/contracts.md; every problem is printed with its file, line and
# id and what to do. Exit status 1 when there is any error (warnings alone pass).
set -euo pipefail
echo "$0 $*" >&2

check_audio=false  # also open every recording (pipes are run): missing, corrupt, empty, sample rate
sample_rate=16000  # the sample rate the audio must have
policy=reject      # another sample rate: reject (an error) or resample (a warning; resampled when read)
max_errors=30      # print at most this many errors

help_message="Usage: $0 [options] <data-dir>
Check a Kaldi data dir (wav.scp, text, utt2spk, spk2utt, utt2lang, [segments], [text.<tgt>]).
Options:
  --check_audio <true|false>   also open every recording (default: ${check_audio})
  --sample_rate <hz>           required sample rate with --check_audio true (default: ${sample_rate})
  --policy <reject|resample>   what another sample rate is (default: ${policy})
  --max_errors <n>             print at most n errors (default: ${max_errors})
e.g.: $0 --check_audio true data/train"

utils_dir=$(dirname "$0")
. "${utils_dir}/parse_options.sh"
[ $# -eq 1 ] || usage_error
. "${utils_dir}/find_python.sh"

"${python}" -m part.bin.datadir validate --check_audio "${check_audio}" --sample_rate "${sample_rate}" \
  --policy "${policy}" --max_errors "${max_errors}" "$1"
