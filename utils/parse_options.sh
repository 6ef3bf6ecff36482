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
# underscores). `--help` or `-h` prints $help_message and exits 0. An option that names no variable
# defined before this file was sourced is an error that names it (exit 1); so is a boolean variable
# (default true or false) given another value, and an option without its value. Parsing stops at the
# first argument that is not an option, or after `--`; the remaining arguments are left in "$@".

while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      if [ -n "${help_message:-}" ]; then
        printf '%s\n' "${help_message}"
      else
        echo "$0: no help message; read the options defined at the top of $0"
      fi
      exit 0
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
  if ! [[ "${_po_var}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_var+set}" ]; then
    echo "$0: invalid option ${_po_name}: this script has no option of that name (run $0 --help)" >&2
    exit 1
  fi
  case "${!_po_var}" in
    true | false)
      if [ "${_po_value}" != true ] && [ "${_po_value}" != false ]; then
        echo "$0: option ${_po_name} is boolean: give true or false, not '${_po_value}'" >&2
        exit 1
      fi
      ;;
  esac
  printf -v "${_po_var}" '%s' "${_po_value}"
done
unset _po_name _po_value _po_var
true # a sourced file's status is that of its last command: end with success
