#!/usr/bin/env bash
# Reproduces the gRPC figures of docs/benchmarks.md: PUT and GET of 64 MiB
# and 1 GiB objects, one stream and four, through the gRPC client API
# (signed requests) and through S3, on the same `meridian dev` (release,
# one copy: the API paths, not replication), in plain HTTP and with --tls
# (S3 and gRPC over TLS, trusting the CA the process made). Each case gets a
# fresh server and data directory under /var/tmp (1 GiB PUTs fill a disk
# fast otherwise). Prints
# one JSON line per run, with api and tls added. Arguments: [DURATION_S]
# (default 10). MATRIX="put 64MiB 1;get 1GiB 4" runs only those cases.
# SERVER_BIN=/path/to/meridian benchmarks that build of the server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/ensure-deps.sh
. scripts/env.sh
duration="${1:-10}"
cargo build --release -q -p meridian-node -p meridian-bench
bin="$CARGO_TARGET_DIR/release"
server="${SERVER_BIN:-$bin/meridian}"
ak=meridian-dev
sk=meridian-dev-secret
matrix=("put 64MiB 1" "put 64MiB 4" "put 1GiB 1" "put 1GiB 4" "get 64MiB 1" "get 64MiB 4" "get 1GiB 1" "get 1GiB 4")
if [ -n "${MATRIX:-}" ]; then
  IFS=';' read -r -a matrix <<<"$MATRIX"
fi
pid=""
data=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$data" ] && rm -rf "$data" "$data.log"
  pid=""
  data=""
}
trap cleanup EXIT

start_meridian() {
  data="$(mktemp -d /var/tmp/meridian-bench.XXXXXX)"
  printf '[default]\ncopies = 1\n' >"$data/policy.toml"
  MERIDIAN_ROOT_ACCESS_KEY="$ak" MERIDIAN_ROOT_SECRET_KEY="$sk" "$server" dev --data-dir "$data/d" \
    --s3-addr 127.0.0.1:19000 --grpc-addr 127.0.0.1:19050 --admin-addr 127.0.0.1:19051 \
    --cluster-addr 127.0.0.1:19052 --policy "$data/policy.toml" "$@" >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do grep -q "meridian: ready" "$data.log" && return 0; sleep 0.5; done
  cat "$data.log" >&2
  exit 1
}

run_case() {
  local tls="$1" op="$2" size="$3" conc="$4"
  local scheme=http ca=()
  if [ "$tls" = on ]; then
    scheme=https
    ca=(--ca-cert "$data/d/tls/endpoints/ca.pem")
  fi
  for api in grpc s3; do
    local ep="$scheme://127.0.0.1:19000"
    [ "$api" = grpc ] && ep="$scheme://127.0.0.1:19050"
    out=$("$bin/meridian-bench" "$api" --endpoint "$ep" "${ca[@]}" --op "$op" --size "$size" \
      --concurrency "$conc" --duration "$duration" --access-key "$ak" --secret-key "$sk" --json)
    echo "{\"api\":\"$api\",\"tls\":\"$tls\",${out#\{}"
  done
}

for tls in off on; do
  for spec in "${matrix[@]}"; do
    set -- $spec
    if [ "$tls" = on ]; then start_meridian --tls; else start_meridian; fi
    run_case "$tls" "$1" "$2" "$3"
    cleanup
  done
done
