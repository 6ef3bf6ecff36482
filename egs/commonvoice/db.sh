# Where the corpora of this recipe live; sourced by local/data.sh. Set the paths to your copies here,
# or export the variables before running. local/data.sh stops with a message naming the variable when
# it is unset or does not point to the expected layout.
#
# COMMONVOICE: the extracted Common Voice release folder, e.g. /data/cv-corpus-15.0-2023-09-08, that
#   holds <locale>/train.tsv, dev.tsv, test.tsv, validated.tsv and <locale>/clips/*.mp3
#   (https://commonvoice.mozilla.org/datasets; the paper uses release 15.0).
COMMONVOICE=${COMMONVOICE:-}
