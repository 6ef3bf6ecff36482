# Where the corpora of this recipe live; sourced by local/data.sh. Set the paths to your copies here,
# or export the variables before running. local/data.sh stops with a message naming the variable when
# it is unset or does not point to the expected layout.
#
# FLEURS: the folder holding one folder per language config, e.g. de_de/{train,dev,test}.tsv and
#   de_de/audio/{train,dev,test}/*.wav (the data/ folder of https://huggingface.co/datasets/google/fleurs,
#   or that repository itself). Extract the audio archives first:
#   for s in train dev test; do tar -xzf de_de/audio/$s.tar.gz -C de_de/audio; done
FLEURS=${FLEURS:-}
