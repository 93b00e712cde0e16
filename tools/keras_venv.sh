#!/bin/sh
# Makes (once) a Python virtual environment with Keras 3 and JAX for the
# interop tests, and prints its python's path on the last line of stdout.
# Exit codes: 0 ok; 3 PyPI cannot be reached (the caller skips); other: failure.
# The environment lives in target/keras-venv (reused by later runs).
set -eu
# Keras must not read (or write) the user's ~/.keras/keras.json here.
export KERAS_BACKEND=jax
KERAS_HOME=$(mktemp -d)
export KERAS_HOME
here=$(cd "$(dirname "$0")/.." && pwd)
venv="${CERAS_KERAS_VENV:-$here/target/keras-venv}"
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c "import keras, jax" >/dev/null 2>&1; then
    echo "$py"
    exit 0
fi
# Is PyPI reachable? (3 s timeout; the only reason to skip.)
if ! python3 - <<'PY' >/dev/null 2>&1
import urllib.request
urllib.request.urlopen("https://pypi.org/simple/keras/", timeout=5).read(64)
PY
then
    echo "https://pypi.org is not reachable from this machine" >&2
    exit 3
fi
rm -rf "$venv"
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    "keras==3.15.1" "jax[cpu]==0.10.2" "numpy" "h5py" >&2
"$py" -c "import keras, jax" >&2
echo "$py"
