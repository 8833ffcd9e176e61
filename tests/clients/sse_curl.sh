#!/usr/bin/env bash
# The OpenAI API's server-sent events and errors as `curl -N` sees them, against `phalanx
# serve` on stories260K: well-formed events ending with [DONE], invalid JSON and wrong types
# answered 400 in OpenAI's error shape, and the server still serving afterwards.
# Usage: sse_curl.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/serve_lib.sh"
py=/usr/bin/python3
fail() { echo "sse_curl FAILED: $*" >&2; exit 1; }
tmp=$(mktemp -d)
SERVER_LOGS+=("$tmp/h" "$tmp/b" "$tmp/e")
trap 'stop_servers; rm -rf "$tmp"' EXIT

start_phalanx "$build" --chat-template chatml

# Checks an SSE body: "data: " lines separated by blank lines, JSON without "error" in every
# event but the last, which is [DONE]. $2: what the first event's first choice must contain.
check_sse() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
body = open(sys.argv[1], encoding="utf-8").read()
assert body.endswith("\n\n"), "body does not end with a blank line"
events = [e for e in body[:-2].split("\n\n") if not e.startswith(":")]  # ":" = SSE comment
for e in events:
    assert e.startswith("data: ") and "\n" not in e, "malformed event %r" % e
data = [e[6:] for e in events]
assert data[-1] == "[DONE]", "last event %r" % data[-1]
chunks = [json.loads(d) for d in data[:-1]]
assert len(chunks) >= 3, "only %d chunks" % len(chunks)
for c in chunks:
    assert "error" not in c, c
    assert c["id"] == chunks[0]["id"] and c["model"] == "stories260K", c
finish = [ch["finish_reason"] for c in chunks for ch in c["choices"] if ch["finish_reason"]]
assert finish == ["length"], "finish reasons %r" % finish
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8, chunks[-1]
want = json.loads(sys.argv[2])
for k, v in want.items():
    assert chunks[0]["choices"][0].get(k) == v, "first chunk %r lacks %r" % (chunks[0], want)
PY
}

# Checks an error body: OpenAI's {"error": {message, type, param, code}}.
check_error() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert set(e) == {"message", "type", "param", "code"}, e
assert e["type"] == "invalid_request_error" and e["message"], e
assert e["param"] == (sys.argv[2] or None), "param %r" % e["param"]
PY
}

# 1. Completions stream.
code=$(curl -sN -D "$tmp/h" -o "$tmp/b" -w '%{http_code}' "$API_URL/v1/completions" \
  -H 'Content-Type: application/json' \
  -d '{"prompt": "Once upon a time", "max_tokens": 8, "ignore_eos": true, "stream": true,
       "stream_options": {"include_usage": true}}')
[ "$code" = 200 ] || fail "stream status $code"
grep -qi '^content-type: text/event-stream' "$tmp/h" || fail "content type: $(cat "$tmp/h")"
check_sse "$tmp/b" '{"finish_reason": null}' || fail "completions SSE: $(cat "$tmp/b")"

# 2. Chat stream: the first chunk carries the role.
code=$(curl -sN -o "$tmp/b" -w '%{http_code}' "$API_URL/v1/chat/completions" \
  -d '{"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "ignore_eos": true,
       "stream": true, "stream_options": {"include_usage": true}}')
[ "$code" = 200 ] || fail "chat stream status $code"
check_sse "$tmp/b" '{"delta": {"role": "assistant", "content": ""}}' || fail "chat SSE: $(cat "$tmp/b")"

# 3. Invalid JSON, a wrong type, an unknown model: errors in OpenAI's shape.
code=$(curl -s -o "$tmp/e" -w '%{http_code}' "$API_URL/v1/completions" -d '{"prompt": "x",')
[ "$code" = 400 ] || fail "invalid JSON status $code"
check_error "$tmp/e" "" || fail "invalid JSON body: $(cat "$tmp/e")"
code=$(curl -s -o "$tmp/e" -w '%{http_code}' "$API_URL/v1/chat/completions" \
  -d '{"messages": [{"role": "user", "content": "x"}], "stream": true, "max_tokens": "8"}')
[ "$code" = 400 ] || fail "wrong type status $code"
check_error "$tmp/e" max_tokens || fail "wrong type body: $(cat "$tmp/e")"
code=$(curl -s -o "$tmp/e" -w '%{http_code}' "$API_URL/v1/completions" \
  -d '{"model": "nope", "prompt": "x"}')
[ "$code" = 404 ] || fail "unknown model status $code"
check_error "$tmp/e" model || fail "unknown model body: $(cat "$tmp/e")"

# 4. Still serving.
code=$(curl -s -o "$tmp/b" -w '%{http_code}' "$API_URL/v1/completions" \
  -d '{"prompt": "Once", "max_tokens": 4}')
[ "$code" = 200 ] || fail "after errors: status $code"
grep -q '"text_completion"' "$tmp/b" || fail "after errors: $(cat "$tmp/b")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$API_URL/health")" = 200 ] || fail "/health"
kill -0 "$SERVER_PID" || fail "server died"
echo "SSE curl tests passed"
