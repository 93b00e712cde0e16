#!/usr/bin/env bash
# Refreshes the vendored copy of the Keras conformance corpus
# (tests/keras_conformance/corpus/*.jsonl.gz) from ../shared/conformance/ops.
# The keras_conformance test reads ../shared/conformance/ops when it exists and this
# copy otherwise, so a clean clone on a machine without shared/ still checks it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-$root/../shared/conformance/ops}
dst=$root/tests/keras_conformance/corpus
rm -rf "$dst" && mkdir -p "$dst"
for f in "$src"/*.jsonl; do
  gzip -9 -n -c "$f" > "$dst/$(basename "$f").gz"
done
echo "vendored $(ls "$dst" | wc -l) files from $src"
