#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (two at a time) and fails on any finding.
#   tests/fuzz/run_all.sh BUILD_DIR SECONDS
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:?build dir}"
seconds="${2:-60}"
targets=(gguf_fuzz tokenizer_fuzz request_fuzz apikeys_fuzz http_fuzz openai_json_fuzz
  jinja_fuzz grammar_schema_fuzz grammar_regex_fuzz grammar_gbnf_fuzz tool_calls_fuzz
  embeddings_fuzz)
if ! ninja -C "$build" "${targets[@]}" make_gguf_seeds >"$build/fuzz_build.log" 2>&1; then
  echo "building the fuzz targets failed:"; tail -40 "$build/fuzz_build.log"; exit 1
fi
mkdir -p "$build/fuzz_out"
run() {
  local t=$1 corpus="$build/fuzz_out/$1_corpus"
  mkdir -p "$corpus" "$build/fuzz_out/$1_artifacts"
  [ "$t" = gguf_fuzz ] && "$build/tests/fuzz/make_gguf_seeds" "$corpus" >/dev/null
  if [ "$t" = http_fuzz ]; then  # a Content-Length and a chunked request (byte 0: the split)
    printf 'PPOST /v1/completions?a=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 5\r\n\r\nhello' >"$corpus/seed_length"
    printf 'XPOST / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' >"$corpus/seed_chunked"
  fi
  if [ "$t" = tool_calls_fuzz ]; then  # byte 0: format / schema mode, byte 1: piece size
    printf '\x01\x03Hi <tool_call>{"name": "f", "arguments": {"a": [1, "x"]}}</tool_call>' >"$corpus/seed_hermes"
    printf '\x00\x05{"tool_calls": [{"name": "f", "arguments": {}}]}' >"$corpus/seed_generic"
    printf '\x80\x09{"type": "object", "properties": {"a": {"type": "array", "items": {"$ref": "#"}, "maxItems": 2}}, "required": ["a"]}' >"$corpus/seed_schema"
  fi
  local extra=()
  if [ "$t" = jinja_fuzz ]; then
    cp "$repo/../shared/templates/"*.jinja "$corpus/"
    extra=(-dict="$repo/tests/fuzz/jinja.dict")
  fi
  if "$build/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${extra[@]}" \
       -artifact_prefix="$build/fuzz_out/$1_artifacts/" -print_final_stats=1 "$corpus" \
       >"$build/fuzz_out/$t.log" 2>&1; then
    echo "$t: $(grep -E '^stat::number_of_executed_units' "$build/fuzz_out/$t.log" | awk '{print $2}') runs in ${seconds}s, no finding"
  else
    echo "$t: FINDING (log: $build/fuzz_out/$t.log)"; tail -40 "$build/fuzz_out/$t.log"; return 1
  fi
}
status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do run "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit $status
