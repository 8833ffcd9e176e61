#!/usr/bin/env bash
# The setup the table-driven llama.cpp peer harnesses share (families_test.sh,
# embeddings_test.sh). Set `harness` (the name in messages) and source this file; it sets
# `repo`, `shared` and the vocabularies of ../shared, and defines die(). Then
#   peer_init PHALANX TOOL TOOL_NAME
# checks the two binaries and node, installs (or finds) the peer (node-llama-cpp, through
# scripts/peer-setup) into `peer`, and makes `work`, a temporary folder removed on exit.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shared="${PHX_SHARED_DIR:-$repo/../shared}"
spm="$shared/vocab/ggml-vocab-llama-spm.gguf"
phi3="$shared/vocab/ggml-vocab-phi-3.gguf"
llama3="$shared/vocab/hf/ggml-vocab-llama3.gguf"
qwen3="$shared/vocab/hf/ggml-vocab-qwen3.gguf"
bge="$shared/vocab/ggml-vocab-bert-bge.gguf"

die() {
  echo "$harness: FAIL: $*" >&2
  exit 1
}

peer_init() {
  [ -x "$1" ] || die "no phalanx binary at $1"
  [ -x "$2" ] || die "no $3 binary at $2"
  command -v node >/dev/null || die "node is required"
  peer="$("$repo/scripts/peer-setup")" || die "scripts/peer-setup failed"
  work="$(mktemp -d "${TMPDIR:-/tmp}/phx_$harness.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
}
