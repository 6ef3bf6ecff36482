# Where the corpora of this recipe live; sourced by local/data.sh. Set the paths to your copies here,
# or export the variables before running. local/data.sh stops with a message naming the variable when
# it is unset or does not point to the expected layout.
#
# WENETSPEECH: the folder holding WenetSpeech.json and audio/ (as the download script of
#   https://github.com/wenet-e2e/WenetSpeech untars it).
WENETSPEECH=${WENETSPEECH:-}
