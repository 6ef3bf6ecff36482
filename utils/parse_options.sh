#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts. Source it after the variables that options may set
# have been given their defaults:
#
#   stage=1
#   nj=4
#   use_gpu=false
#   help_message="Usage: $0 [options] <data-dir>
#     --stage N     first stage to run (default: ${stage})"
#   . utils/parse_options.sh
#
# Then `--nj 8`, `--nj=8` and `--use-gpu true` set nj and use_gpu (dashes in an option name become
# underscores). An option that names no variable declared before this file was sourced is an error that
# names it (exit 1); so is a boolean variable (default true or false) given another value, and an
# option without its value. A variable may be declared without a value (`declare langs`): it stays unset
# unless the option is given, so the script can tell "not given" (${langs+set} is empty) from "given empty".
# Parsing stops at the first argument that is not an option, or after `--`; the remaining arguments
# are left in "$@".
#
# `--help` or `-h` prints the help and exits 0, after the other options have been parsed: a script that
# defines a function `usage` gets it called then (so its help can show the values the options were given,
# e.g. a recipe's choices that its run.sh passes before the user's options); otherwise $help_message is
# printed. A script given the wrong arguments calls `usage_error`: the same help on stderr, exit status 1:
#
#   [ $# -eq 1 ] || usage_error

_po_print_help() {
  if declare -F usage >/dev/null; then
    usage
  elif [ -n "${help_message:-}" ]; then
    printf '%s\n' "${help_message}"
  else
    echo "$0: no help message; read the options defined at the top of $0"
  fi
}

usage_error() {
  _po_print_help >&2
  exit 1
}

_po_help=false
while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      _po_help=true
      shift
      continue
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      _po_name=${1%%=*}
      _po_value=${1#*=}
      shift
      ;;
    --?*)
      _po_name=$1
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value (write $1 VALUE or $1=VALUE)" >&2
        exit 1
      fi
      _po_value=$2
      shift 2
      ;;
    *)
      break
      ;;
  esac
  _po_var=${_po_name#--}
  _po_var=${_po_var//-/_}
  if ! [[ "${_po_var}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! declare -p "${_po_var}" >/dev/null 2>&1; then
    echo "$0: invalid option ${_po_name}: this script has no option of that name (run $0 --help)" >&2
    exit 1
  fi
  case "${!_po_var-}" in
    true | false)
      if [ "${_po_value}" != true ] && [ "${_po_value}" != false ]; then
        echo "$0: option ${_po_name} is boolean: give true or false, not '${_po_value}'" >&2
        exit 1
      fi
      ;;
  esac
  printf -v "${_po_var}" '%s' "${_po_value}"
done
if [ "${_po_help}" = true ]; then
  _po_print_help
  exit 0
fi
unset _po_name _po_value _po_var _po_help
true # a sourced file's status is that of its last command: end with success
