# Sourced by the run.sh of the recipes for real corpora: turns their model options into part.sh options.
#   in:  llm_path whisper_path feats_opts train_args help (true: only --help was asked; nothing is checked)
#   out: model_opts (array of part.sh options); feats_opts and train_args extended
# --llm_path DIR (required): a local Hugging Face causal LM (Qwen2.5-1.5B/7B[-Instruct]); nothing is downloaded.
# --whisper_path DIR: Whisper's log-mel features in stage 2 (as many mel bins as DIR's model: 128 for
#   large-v3) and DIR's encoder in every stage (encoder_conf.path); stage 3 pretrains no encoder.
# No --whisper_path: 80-bin fbank, and stage 3 pretrains the Conformer of --encoder_config in-recipe.
model_opts=()
if [ "${help:-false}" != true ]; then
  if [ -z "${llm_path}" ]; then
    echo "$0: --llm_path is required: a local Hugging Face LLM directory such as Qwen2.5-1.5B-Instruct" \
         "(nothing is downloaded; see docs/real_models.md)" >&2
    exit 2
  fi
  if [ ! -f "${llm_path}/config.json" ]; then
    echo "$0: --llm_path ${llm_path} has no config.json: not a Hugging Face model directory" >&2
    exit 2
  fi
  model_opts=(--llm_path "$(cd "${llm_path}" && pwd)")
  if [ -n "${whisper_path}" ]; then
    if [ ! -f "${whisper_path}/config.json" ]; then
      echo "$0: --whisper_path ${whisper_path} has no config.json: not a Hugging Face Whisper directory" >&2
      exit 2
    fi
    whisper_path=$(cd "${whisper_path}" && pwd)
    case "${whisper_path}" in
      *[[:space:]]*) echo "$0: --whisper_path must not contain spaces: ${whisper_path}" >&2; exit 2 ;;
    esac
    mel_bins=$(sed -n 's/.*"num_mel_bins": *\([0-9][0-9]*\).*/\1/p' "${whisper_path}/config.json" | head -n 1)
    if [ -z "${mel_bins}" ]; then
      echo "$0: ${whisper_path}/config.json names no num_mel_bins: is it a Whisper model?" >&2
      exit 2
    fi
    model_opts+=(--encoder_path none)
    feats_opts="--feature_type whisper --num_mel_bins ${mel_bins} ${feats_opts}"
    train_args="--encoder whisper --encoder_conf path=${whisper_path} --input_size ${mel_bins} ${train_args}"
  else
    # The Conformer subsamples to 25 frames/s: stride 2 gives the LLM 12.5 vectors/s, as Whisper + stride 4.
    train_args="--speech_adapter_conf stride=2 ${train_args}"
  fi
fi
