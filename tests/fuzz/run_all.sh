#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (two at a time) and fails on any finding.
#   tests/fuzz/run_all.sh BUILD_DIR SECONDS
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:?build dir}"
seconds="${2:-60}"
targets=(gguf_fuzz tokenizer_fuzz request_fuzz apikeys_fuzz http_fuzz openai_json_fuzz
  jinja_fuzz grammar_schema_fuzz grammar_regex_fuzz grammar_gbnf_fuzz tool_calls_fuzz anthropic_fuzz
  responses_fuzz embeddings_fuzz)
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
  if [ "$t" = anthropic_fuzz ]; then  # a request with every block kind; byte 0 of an answer: piece size
    printf '%s' '{"model":"m","max_tokens":9,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":"a"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":""},{"type":"tool_use","id":"i","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"i","content":"r","is_error":true}]}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"},"stop_sequences":["x"],"stream":true}' >"$corpus/seed_request"
    printf '\x83<think>a</think>Hi <tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>' >"$corpus/seed_answer"
  fi
  if [ "$t" = responses_fuzz ]; then  # a request; byte 0 also picks the encoder's piece size
    printf '{"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}, {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c", "output": "x"}], "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}}, "max_output_tokens": 9}' >"$corpus/seed_request"
    printf '\x37<think>a</think>\n\nHi <tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>' >"$corpus/seed_answer"
  fi
  local extra=()
  # Long answers: the streamed tool-call parser is linear (runtime/chat/tool_call_stream.cc).
  case $t in anthropic_fuzz | responses_fuzz) extra=(-max_len=16384) ;; esac
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
