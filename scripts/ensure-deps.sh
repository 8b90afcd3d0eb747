#!/usr/bin/env bash
# Installs what building and testing Meridian needs, only when missing:
#   libclang (rocksdb's bindgen), sccache (compile cache), and with --test
#   the end-to-end clients: the aws CLI and boto3 (PyPI), rclone and s3cmd
#   (Debian), the MCP client the agent test drives (Python `mcp`), and
#   what the Python gRPC client (clients/python) is built
#   and run with: grpcio, grpcio-tools, protobuf, blake3, setuptools (PyPI).
set -euo pipefail

need_apt=()
# libclang itself, not libclang-cpp (which a fresh machine has, and bindgen cannot use).
if ! compgen -G '/usr/lib/llvm-*/lib/libclang.so' >/dev/null && ! compgen -G '/usr/lib/*/libclang-[0-9]*.so*' >/dev/null; then
  need_apt+=(libclang-dev)
fi
command -v sccache >/dev/null 2>&1 || need_apt+=(sccache)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing: ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
  tools=()
  command -v rclone >/dev/null 2>&1 || tools+=(rclone)
  command -v s3cmd >/dev/null 2>&1 || tools+=(s3cmd)
  if [ ${#tools[@]} -gt 0 ]; then
    echo "installing: ${tools[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${tools[@]}" >/dev/null
  fi
  py_missing=()
  python3 -c 'import boto3' 2>/dev/null || py_missing+=(boto3)
  command -v aws >/dev/null 2>&1 && aws --version >/dev/null 2>&1 || py_missing+=(awscli)
  python3 -c 'import grpc, grpc_tools, google.protobuf' 2>/dev/null || py_missing+=(grpcio grpcio-tools protobuf)
  python3 -c 'import blake3' 2>/dev/null || py_missing+=(blake3)
  python3 -c 'import setuptools' 2>/dev/null || py_missing+=(setuptools)
  # The reference MCP client, for the agent test (it brings httpx2).
  python3 -c 'import mcp, httpx2' 2>/dev/null || py_missing+=(mcp)
  if [ ${#py_missing[@]} -gt 0 ]; then
    echo "installing from PyPI: ${py_missing[*]}" >&2
    python3 -m pip install -q "${py_missing[@]}"
    hash -r
  fi
fi
