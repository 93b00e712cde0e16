#!/bin/sh
# The project's test command (README "Two commands", .ci/run).
#
# 1. Installs libtorch for the torch backend (once; tools/setup_torch.sh).
# 2. Runs every test of the workspace, with the torch backend compiled in; the
#    process backend is the default, cpu. Tests that compare backends
#    (backend_conformance, torch_backend) run both in the same process.
#    ceras-core's tests run without the feature (see below).
# 3. Runs every integration and unit test again with KERAS_BACKEND=torch: the Keras
#    ops conformance cases, the layer / loss / optimizer / metric fixtures, the
#    gradient checks, the .keras files and the Python Keras interop, on libtorch.
set -eu
cd "$(dirname "$0")/.."
tools/setup_torch.sh >/dev/null
echo "== cargo test --release --workspace --features torch --exclude ceras-core (process backend: cpu)"
cargo test --release --workspace --features torch --exclude ceras-core
# ceras-core's doc tests link the ceras crate, which has no rpath to libtorch
# for a crate that cannot name it: they run without the torch feature.
echo "== cargo test --release -p ceras-core"
cargo test --release -p ceras-core
echo "== KERAS_BACKEND=torch cargo test --release --features torch --tests"
KERAS_BACKEND=torch cargo test --release --features torch --tests
