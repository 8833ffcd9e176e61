#!/usr/bin/env bash
# The official OpenAI Node SDK (openai@6.49.0, pinned) against `phalanx serve` on stories260K:
# completions and chat, plain and streamed, models.list, errors, reasoning_content from a
# thinking chat template, tool calls (forced, named, auto; unary and streamed), API keys, and
# the Responses API (openai_responses.mjs) and embeddings (openai_embeddings.mjs).
# Usage: run_openai.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch=${PHX_SCRATCH:-$root/.scratch}/openai
mkdir -p "$scratch"
if [ ! -f "$scratch/node_modules/openai/package.json" ] ||
   ! grep -q '"version": "6.49.0"' "$scratch/node_modules/openai/package.json"; then
  [ -f "$scratch/package.json" ] || echo '{"private": true}' >"$scratch/package.json"
  (cd "$scratch" && npm i -E --ignore-scripts --no-audit --no-fund openai@6.49.0 >/dev/null)
fi
source "$here/serve_lib.sh"

# stories260K has no chat template: chat runs with the chatml formatter.
start_phalanx "$build" --chat-template chatml
node "$here/openai_sdk.mjs" main "$API_URL" "$scratch/node_modules"
# Tool calls in the generic format chatml gets: forced, named, auto; unary and streamed.
node "$here/openai_sdk.mjs" tools "$API_URL" "$scratch/node_modules"
# The Responses API: unary, streamed, a forced function call, json_schema, a round trip, 400s.
node "$here/openai_responses.mjs" main "$API_URL" "$scratch/node_modules"

# Embeddings (--embeddings: stories260K has no pooling_type): float, base64, dimensions, errors.
start_phalanx "$build" --embeddings
node "$here/openai_embeddings.mjs" "$API_URL" "$scratch/node_modules"

# A thinking template (DeepSeek R1's, from a file): reasoning_content through the SDK.
start_phalanx "$build" --chat-template "$root/../shared/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"
node "$here/openai_sdk.mjs" reasoning "$API_URL" "$scratch/node_modules"
node "$here/openai_responses.mjs" reasoning "$API_URL" "$scratch/node_modules"

# With API keys: no key and a wrong key get 401, the right one works.
key="sk-phalanx-test-$$"
keys=$(mktemp)
SERVER_LOGS+=("$keys")
printf 'keys:\n  - id: sdk-test\n    sha256: %s\n' "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" >"$keys"
start_phalanx "$build" --chat-template chatml --api-keys "$keys"
PHX_API_KEY="$key" node "$here/openai_sdk.mjs" auth "$API_URL" "$scratch/node_modules"
echo "openai SDK tests passed"
