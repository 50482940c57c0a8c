#!/usr/bin/env bash
# One entry point for newcomers and CI.
#   bash dev.sh chat   set up .venv (first run), build the index from seeds/ (first run), start the chat
#   bash dev.sh test   set up .venv with the test extras and Chromium, run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
VENV=.venv

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null 2>&1
  # A CPU build of torch before anything else, so sentence-transformers does not pull a multi-GB CUDA one.
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
    if curl -s -m 3 -o /dev/null https://download.pytorch.org/whl/cpu/; then
      "$VENV/bin/pip" install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
    else
      # No route to the PyTorch index (a closed network): a local mirror or wheel cache provides it.
      "$VENV/bin/pip" install -q "torch==2.13.0" 2>&1 | grep -v -E "^WARNING: Location|is ignored" || true
    fi
  fi
  "$VENV/bin/pip" install -q -e ".[$1]" 2>&1 | grep -v -E "^WARNING: Location|is ignored" || true
  "$VENV/bin/python" -c "import rag, torch" || { echo "dev.sh: installation failed" >&2; exit 1; }
}

setup_llama() {
  # llama.cpp compiles from source. Its default -march=native build crashed (SIGSEGV in decode) on
  # these AMX machines, so it is built for portable AVX2; --no-cache-dir keeps pip from reusing a
  # wheel built with other flags.
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  if ! "$VENV/bin/python" -c "import llama_cpp.server.app" 2>/dev/null; then
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AVX2=ON}" \
      "$VENV/bin/pip" install -q --no-cache-dir "llama-cpp-python[server]>=0.3" 2>&1 \
      | grep -v -E "^WARNING: Location|is ignored" || true
  fi
}

case "${1:-}" in
  chat)
    shift
    setup eval
    exec "$VENV/bin/rag" serve "$@"
    ;;
  test)
    shift
    setup_llama
    setup test,eval
    if ! command -v chromium >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
          || echo "dev.sh: could not install chromium; browser tests will be skipped" >&2
      else
        echo "dev.sh: chromium is not installed (sudo apt-get install chromium); browser tests will be skipped" >&2
      fi
    fi
    # axe-core, the accessibility checker the browser tests load into each page, from npm.
    if [ ! -f .cache/node_modules/axe-core/axe.min.js ]; then
      if command -v npm >/dev/null 2>&1; then
        npm install -s --prefix .cache --no-audit --no-fund "axe-core@4.14.1" >/dev/null \
          || echo "dev.sh: could not install axe-core; the accessibility tests will be skipped" >&2
      else
        echo "dev.sh: npm is not installed (apt-get install npm); the accessibility tests will be skipped" >&2
      fi
    fi
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash dev.sh chat [--port N] | bash dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
