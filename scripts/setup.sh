# Sourced by demo.sh and test.sh: make .venv and install paretomoo into it.
# Torch: an installed torch>=2.2 (a CUDA build, say) is kept. Without one, a
# machine with an NVIDIA GPU gets the default (CUDA) wheel and any other machine
# the CPU wheel of torch 2.13.0, never a multi-GB CUDA download.
set -euo pipefail
VENV=${PARETOMOO_VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
if ! "$PY" -c 'import torch, sys; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 2))' 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${PIP[@]}" "torch>=2.2"
  else
    "${PIP[@]}" --retries 0 --timeout 10 --index-url "${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}" "torch==2.13.0" 2>/dev/null \
      || "${PIP[@]}" "torch==2.13.0"
  fi
fi
"${PIP[@]}" -e ".${PARETOMOO_EXTRAS:-}"
