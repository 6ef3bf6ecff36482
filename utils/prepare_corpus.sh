#!/usr/bin/env bash
# Stage 1 of a real-corpus recipe, run by its local/data.sh: python -m part.data.corpora.recipes <recipe>
# in the recipe's environment (path.sh), with the variables of the recipe's db.sh exported: each corpus
# root option of part.data.corpora.recipes (--commonvoice, --fleurs, ...) defaults to its variable
# (COMMONVOICE, FLEURS, ...), so the recipe names its corpora in db.sh only.
set -euo pipefail
echo "$0 $*" >&2

help_message="Usage: $0 <recipe-dir> <recipe> [options of python -m part.data.corpora.recipes <recipe>]
Kaldi data dirs <data_dir>/{train,dev,test_*} from the corpora named in <recipe-dir>/db.sh; the last line
on stdout is 'test_sets: ...'. The options: $0 <recipe-dir> <recipe> --help
e.g.: $0 egs/commonvoice commonvoice --langs de,fr"

. "$(dirname "$0")/parse_options.sh"
[ $# -ge 2 ] || usage_error
recipe_dir=$1
recipe=$2
shift 2

set -a
. "${recipe_dir}/db.sh"
set +a
if [ -f "${recipe_dir}/path.sh" ]; then . "${recipe_dir}/path.sh"; fi
. "$(dirname "$0")/find_python.sh"

exec "${python}" -m part.data.corpora.recipes "${recipe}" "$@"
