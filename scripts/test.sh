#!/usr/bin/env bash
# The test command: format, lints, then every test (unit, openraft's storage
# suite, end-to-end with the real aws CLI, boto3 and the AWS SDK for Rust,
# the Python gRPC client, and the kill -9 chaos test), against the real
# binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh --test
. scripts/env.sh

# The Python client: its stubs made from proto/, installed, unit-tested
# (its end-to-end test is among the chaos tests below).
python3 -m pip install -q --root-user-action=ignore --disable-pip-version-check \
  --no-build-isolation --no-deps ./clients/python
(cd clients/python && python3 -m unittest discover -s tests)

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end and chaos tests drive the real binaries.
cargo build --workspace --bins
export MERIDIAN_BIN="$CARGO_TARGET_DIR/debug/meridian"
export MERIDIANCTL_BIN="$CARGO_TARGET_DIR/debug/meridianctl"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
