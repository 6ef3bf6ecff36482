#!/usr/bin/env bash
# Stage 1 of egs/mini_multilingual: make the embedded corpus in the recipe directory (the working
# directory): parallel sentences from the project's own grammar in en de fr es zh ja, espeak-ng speech
# with varied voices, rates, pitch and noise, the Kaldi data dirs data/{train,dev,test} (with text.<tgt>
# translation references) and the text corpus of the in-recipe LLM, data/lm_text/{train,dev}.jsonl.
# Nothing is downloaded. A re-run with the same options returns at once; other options remake it.
# Prints "test_sets: test test_noise" as its last line on stdout (logs go to stderr): the speech test
# set and the noise-only clips (data/test_noise, decoded as ASR: does a model write text when nobody speaks?).
#
# The options (--size, --langs, --seed, --nj, --force, ...) and their defaults are those of
# python -m part.data.embedded.prepare (local/data.sh --help shows them).
#
#   local/data.sh --size tiny --langs en,de,zh
set -euo pipefail
echo "$0 $*" >&2

# The repository's utils/, also when this file is reached through a size_<size>/local link.
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../../utils/find_python.sh"

# Its last line on stdout names the test sets it made (egs/TEMPLATE/part.sh records them).
"${python}" -m part.data.embedded.prepare --out . "$@"
