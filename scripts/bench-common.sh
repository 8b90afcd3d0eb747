# Sourced by the benchmark scripts (from the repository's root): builds the
# release server and load generator, and starts and stops `meridian dev`
# on a fresh data directory under /var/tmp (large PUTs fill a disk fast
# otherwise). Sets bin, server (SERVER_BIN benchmarks another build of the
# server), ak, sk; pick_matrix lets MATRIX="op size conc;..." choose cases.
. scripts/env.sh
scripts/ensure-deps.sh
. scripts/env.sh
cargo build --release -q -p meridian-node -p meridian-bench
bin="$CARGO_TARGET_DIR/release"
server="${SERVER_BIN:-$bin/meridian}"
ak=meridian-dev
sk=meridian-dev-secret
pid=""
data=""

# The cases to run: MATRIX's if set, else the script's own (in `matrix`).
pick_matrix() {
  if [ -n "${MATRIX:-}" ]; then
    IFS=';' read -r -a matrix <<<"$MATRIX"
  fi
}

cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "$data" ] && rm -rf "$data" "$data.log"
  pid=""
  data=""
}
trap cleanup EXIT

# start_meridian POLICY [ARGS...]: POLICY is the policy file's text (empty:
# the default policy); ARGS go to `meridian dev` after the ports.
start_meridian() {
  data="$(mktemp -d /var/tmp/meridian-bench.XXXXXX)"
  local args=(dev --data-dir "$data/d" --s3-addr 127.0.0.1:19000 --grpc-addr 127.0.0.1:19050 --admin-addr 127.0.0.1:19051 --cluster-addr 127.0.0.1:19052)
  if [ -n "${1:-}" ]; then
    printf '%s\n' "$1" >"$data/policy.toml"
    args+=(--policy "$data/policy.toml")
  fi
  shift || true
  MERIDIAN_ROOT_ACCESS_KEY="$ak" MERIDIAN_ROOT_SECRET_KEY="$sk" "$server" "${args[@]}" "$@" >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 240); do grep -q "meridian: ready" "$data.log" && return 0; sleep 0.5; done
  cat "$data.log" >&2
  exit 1
}
