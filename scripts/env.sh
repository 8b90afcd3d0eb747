# Sourced by the scripts: one target directory outside the work tree, shared
# by every build, and sccache when it is installed.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/meridian-target}"
if command -v sccache >/dev/null 2>&1; then
  export RUSTC_WRAPPER="${RUSTC_WRAPPER:-sccache}"
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
