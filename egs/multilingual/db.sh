# Where the corpora of this recipe live; sourced by local/data.sh. Set the paths to your copies here,
# or export the variables before running. local/data.sh stops with a message naming the variable when
# it is unset or does not point to the expected layout.
#
# COMMONVOICE: the extracted Common Voice release folder, e.g. /data/cv-corpus-15.0-2023-09-08, that
#   holds <locale>/train.tsv, dev.tsv, test.tsv, validated.tsv and <locale>/clips/*.mp3
#   (https://commonvoice.mozilla.org/datasets; the paper uses release 15.0).
#
# FLEURS: the folder holding one folder per language config, e.g. de_de/{train,dev,test}.tsv and
#   de_de/audio/{train,dev,test}/*.wav (the data/ folder of https://huggingface.co/datasets/google/fleurs,
#   or that repository itself). Extract the audio archives first:
#   for s in train dev test; do tar -xzf de_de/audio/$s.tar.gz -C de_de/audio; done
#
# COVOST2: the folder holding the CoVoST 2 translations covost_v2.<src>_<tgt>.tsv (extracted from
#   covost_v2.<src>_<tgt>.tsv.tar.gz, https://github.com/facebookresearch/covost).
# COVOST2_CV_ROOT: the Common Voice release folder whose <src>/clips/ and <src>/validated.tsv CoVoST 2
#   uses: officially cv-corpus-4-2019-12-10; later releases hold the same clips. Default: COMMONVOICE.
COMMONVOICE=${COMMONVOICE:-}
FLEURS=${FLEURS:-}
COVOST2=${COVOST2:-}
COVOST2_CV_ROOT=${COVOST2_CV_ROOT:-${COMMONVOICE}}
