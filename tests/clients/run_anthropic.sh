#!/usr/bin/env bash
# The official Anthropic TypeScript SDK (@anthropic-ai/sdk@1.17.0, pinned) against
# `phalanx serve` on stories260K behind an API key: messages unary and streamed, a forced tool
# call, a tool_result round trip, count_tokens, stop_sequences, typed errors (anthropic_sdk.mjs
# main); thinking blocks from DeepSeek R1's template (anthropic_sdk.mjs thinking).
# Usage: run_anthropic.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch=${PHX_SCRATCH:-$root/.scratch}/anthropic
version=1.17.0
mkdir -p "$scratch"
if [ ! -f "$scratch/node_modules/@anthropic-ai/sdk/package.json" ] ||
   ! grep -q "\"version\": \"$version\"" "$scratch/node_modules/@anthropic-ai/sdk/package.json"; then
  [ -f "$scratch/package.json" ] || echo '{"private": true}' >"$scratch/package.json"
  (cd "$scratch" && npm i -E --ignore-scripts --no-audit --no-fund "@anthropic-ai/sdk@$version" >/dev/null)
fi
source "$here/serve_lib.sh"

key="sk-ant-phalanx-test-$$"
keys=$(mktemp)
SERVER_LOGS+=("$keys")
printf 'keys:\n  - id: sdk-test\n    sha256: %s\n' "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" >"$keys"
# stories260K has no chat template: chatml, whose tool calls use the generic JSON format.
start_phalanx "$build" --chat-template chatml --api-keys "$keys"
PHX_API_KEY="$key" node "$here/anthropic_sdk.mjs" main "$API_URL" "$scratch/node_modules"
start_phalanx "$build" --api-keys "$keys" \
  --chat-template "$root/../shared/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"
PHX_API_KEY="$key" node "$here/anthropic_sdk.mjs" thinking "$API_URL" "$scratch/node_modules"
echo "anthropic SDK tests passed"
