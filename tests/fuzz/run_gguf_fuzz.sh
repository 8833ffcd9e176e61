#!/usr/bin/env bash
# Builds the seed corpus and runs gguf_fuzz for a while.
#   tests/fuzz/run_gguf_fuzz.sh [BUILD_DIR (default build-fuzz)] [SECONDS (default 60)]
# The build dir must be configured with CC=clang CXX=clang++ -DPHALANX_FUZZ=ON. Findings land in
# BUILD_DIR/gguf_fuzz_artifacts; the (growing) corpus in BUILD_DIR/gguf_corpus.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$repo/build-fuzz}"
seconds="${2:-60}"
ninja -C "$build" gguf_fuzz make_gguf_seeds >&2
corpus="$build/gguf_corpus"
artifacts="$build/gguf_fuzz_artifacts"
mkdir -p "$corpus" "$artifacts"
"$build/tests/fuzz/make_gguf_seeds" "$corpus" >/dev/null
exec "$build/tests/fuzz/gguf_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus"
