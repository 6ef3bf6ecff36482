#!/usr/bin/env bash
# Usage: utils/worktree_changes.sh [<repo>]
# Prints how many files of the git work tree <repo> (default: .) differ from its checked-out revision:
# modified, added, deleted and untracked files that git does not ignore, except the reports the main job
# writes itself (egs/*/RESULTS.md and egs/*/figures/), so that a second run of ./run_all.sh in the same
# clone is not counted as a change of the code. Prints "unknown" outside a git work tree.
# ./run_all.sh records it in <exp>/runs.tsv; RESULTS.md calls a run with a non-zero count "dirty".
set -euo pipefail
repo=${1:-.}
if ! git -C "${repo}" rev-parse HEAD >/dev/null 2>&1; then
  echo unknown
  exit 0
fi
# 'figures/*', not 'figures': git shows an untracked folder as one entry, 'egs/<recipe>/figures/', which
# only a pattern ending in '/*' excludes.
git -C "${repo}" status --porcelain --untracked-files=normal -- . ':(exclude)egs/*/RESULTS.md' \
  ':(exclude)egs/*/figures/*' | wc -l | tr -d ' '
