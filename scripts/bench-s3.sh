#!/usr/bin/env bash
# Reproduces the S3 figures of docs/benchmarks.md: PUT, GET and LIST at 4 KiB,
# 1 MiB and 64 MiB and several concurrencies, against `meridian dev`
# (release) keeping three copies (the default policy), against it keeping
# one, and against s3s-fs 0.14.1 (the s3s reference server; installed with
# cargo when missing). Each server starts on a fresh data directory under
# /var/tmp and is stopped after its runs. Prints one JSON line per run, with
# the target added. Arguments: [DURATION_S] (default 10) [TARGETS] (default
# "meridian-3-copies meridian-1-copy s3s-fs"; also meridian-untracked: three
# copies, no access log). MATRIX="put 64MiB 1;get 4KiB 16"
# runs only those cases (op, size, concurrency; separated by ';').
# SERVER_BIN=/path/to/meridian benchmarks that build of the server instead
# of this tree's (the same load generator either way): for before/after
# comparisons across commits.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
targets="${2:-meridian-3-copies meridian-1-copy s3s-fs}"
. scripts/bench-common.sh
if ! command -v s3s-fs >/dev/null 2>&1; then
  # Later versions need a newer rustc than some machines have.
  CARGO_TARGET_DIR=/var/tmp/s3s-fs-target cargo install -q --locked s3s-fs --version 0.14.1 --features binary
fi
matrix=(
  "put 4KiB 1" "put 4KiB 16" "put 4KiB 64" "put 1MiB 4" "put 1MiB 16" "put 64MiB 1" "put 64MiB 4"
  "get 4KiB 1" "get 4KiB 16" "get 4KiB 64" "get 1MiB 4" "get 1MiB 16" "get 64MiB 1" "get 64MiB 4"
  "list 4KiB 1" "list 4KiB 16"
)
pick_matrix

wait_port() {
  for _ in $(seq 1 240); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.5
  done
  echo "nothing listens on port $1" >&2
  [ -n "$data" ] && cat "$data.log" >&2
  exit 1
}

run_matrix() {
  local target="$1" ep="$2"
  for spec in "${matrix[@]}"; do
    set -- $spec
    out=$("$bin/meridian-bench" s3 --endpoint "$ep" --op "$1" --size "$2" --concurrency "$3" \
      --duration "$duration" --access-key "$ak" --secret-key "$sk" --json)
    echo "{\"target\":\"$target\",${out#\{}"
  done
}

for target in $targets; do
  case "$target" in
    meridian-3-copies)
      start_meridian ""
      run_matrix "$target" http://127.0.0.1:19000
      ;;
    meridian-1-copy)
      start_meridian $'[default]\ncopies = 1'
      run_matrix "$target" http://127.0.0.1:19000
      ;;
    meridian-untracked)
      # The default, with no access log: what tracking costs.
      start_meridian "" --no-access-log
      run_matrix "$target" http://127.0.0.1:19000
      ;;
    s3s-fs)
      data="$(mktemp -d /var/tmp/s3s-fs-bench.XXXXXX)"
      s3s-fs --access-key "$ak" --secret-key "$sk" --host 127.0.0.1 --port 19200 "$data" >"$data.log" 2>&1 &
      pid=$!
      wait_port 19200
      run_matrix "$target" http://127.0.0.1:19200
      ;;
    *)
      echo "unknown target $target" >&2
      exit 2
      ;;
  esac
  cleanup
done
