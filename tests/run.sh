#!/usr/bin/env bash
# The one test command (README and .ci/run call it): install what the tests need, then run them all.
#   system: Debian's Fashion-MNIST files (the tests train on the real set) and chromium (browser tests)
#   python: requirements.txt (app, core and test tools)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq dataset-fashion-mnist chromium >/dev/null; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist chromium >/dev/null
fi
$PY -m pip install -q -r requirements.txt
exec $PY -m pytest "$@"
