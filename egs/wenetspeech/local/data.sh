#!/usr/bin/env bash
# Stage 1 of egs/wenetspeech: Kaldi data dirs (with segments) from WenetSpeech (Mandarin).
#
# Reads WenetSpeech.json and the opus recordings from WENETSPEECH (db.sh) and writes, below --data_dir
# (default data):
#   train                       the chosen training subset (L 10000 h, M 1000 h, S 100 h, W weakly labelled)
#   dev                         DEV
#   test_wenetspeech_net        TEST_NET
#   test_wenetspeech_meeting    TEST_MEETING
#   local/wenetspeech/          wenetspeech_<subset> as read from the manifest
# and prints "test_sets: test_wenetspeech_net test_wenetspeech_meeting" as its last line on stdout.
# wav.scp is keyed by recording and names the 16 kHz opus files (soundfile reads and seeks in them).
# The options (--train_subset, --audio_format, --strict, --data_dir) and their defaults are those of
# python -m part.data.corpora.recipes wenetspeech (local/data.sh --help shows them).
#
#   local/data.sh --train_subset S
set -euo pipefail
echo "$0 $*" >&2
recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec "${recipe_dir}/../../utils/prepare_corpus.sh" "${recipe_dir}" wenetspeech "$@"
