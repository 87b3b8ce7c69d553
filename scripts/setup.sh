#!/usr/bin/env bash
# Installs whatever tpbench needs that this Debian 12 machine lacks. Idempotent: a package
# already installed is not touched, and nothing is fetched when nothing is missing.
# Works as root or through sudo.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libopenmpi-dev openmpi-bin          # MPI: the launcher and the CPU communicator
  libopenblas-dev                     # CBLAS through FindBLAS (BLA_VENDOR picks another)
  nlohmann-json3-dev libcli11-dev libfmt-dev
  zlib1g-dev                          # CRC-32 of checkpoint blocks
  libgtest-dev googletest
  python3 python3-numpy python3-venv  # test helpers (trace and results readers)
  python3-matplotlib fonts-dejavu-core  # charts of tpbench sweep / report (tools/report/)
  chromium                            # the sweep test renders report.html headless
  clang libclang-rt-14-dev            # libFuzzer + sanitizer runtimes for scripts/fuzz.sh
  iproute2 procps util-linux          # the multi-host test cluster (scripts/netns_cluster.sh)
)
# The independent implementation the model tests compare against, and bench/torch/.
packages+=(python3-torch)

# TensorBoard (PyPI only): the tests read tpbench's traces with its PyTorch-profiler loader and
# its scalars with TensorBoard's own event reader and with tbparse; `tensorboard --logdir` runs from here.
setup_tb_venv() {
  local venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-tb"
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import torch_tb_profiler, tbparse, tensorboard" 2>/dev/null; then
    return 0
  fi
  echo "setup: creating $venv with tensorboard, torch-tb-profiler and tbparse"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch-tb-profiler==0.4.3" "tbparse==0.0.9"
}

# Hugging Face transformers (PyPI only): tests/checkpoint/hf_check.py loads tpbench's safetensors
# export with LlamaForCausalLM. --system-site-packages makes Debian's python3-torch (above) visible,
# so pip finds torch already satisfied and never fetches a PyPI torch; transformers 4.44.2 does not
# require torch anyway. safetensors and numpy come with transformers (numpy from Debian's too).
setup_hf_venv() {
  local venv="$(cd "$(dirname "$0")/.." && pwd)/.venv-hf"
  if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c "import transformers, safetensors, torch" 2>/dev/null; then
    return 0
  fi
  echo "setup: creating $venv with transformers"
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "transformers==4.44.2" "tokenizers==0.19.1" \
    "huggingface-hub==0.36.2" "safetensors==0.8.0"
}

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  setup_tb_venv
  setup_hf_venv
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
setup_tb_venv
setup_hf_venv
