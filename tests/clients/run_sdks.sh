#!/usr/bin/env bash
# The Vercel AI SDK (ai@6.0.333 + @ai-sdk/openai-compatible@2.0.92) and LangChain.js
# (@langchain/openai@1.4.7 on @langchain/core@1.1.49), pinned (the newest releases that run on
# Node 20), against `phalanx serve` on stories260K with strict request checking (the default):
# text, streaming, a forced tool call and a JSON-schema object through each library's own API.
# Usage: run_sdks.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch=${PHX_SCRATCH:-$root/.scratch}/sdks
pkgs=(ai@6.0.333 @ai-sdk/openai-compatible@2.0.92 @langchain/openai@1.4.7 @langchain/core@1.1.49
  zod@4.1.12)
mkdir -p "$scratch"
if [ ! -f "$scratch/.installed" ] || [ "$(cat "$scratch/.installed")" != "${pkgs[*]}" ]; then
  echo '{"private": true}' >"$scratch/package.json"
  (cd "$scratch" && npm i -E --ignore-scripts --no-audit --no-fund "${pkgs[@]}" >/dev/null)
  echo "${pkgs[*]}" >"$scratch/.installed"
fi
source "$here/serve_lib.sh"

# stories260K has no chat template: chatml, whose tool calls use the generic JSON format.
start_phalanx "$build" --chat-template chatml
AI_SDK_LOG_WARNINGS=false node "$here/sdk_clients.mjs" "$API_URL" "$scratch/node_modules"
echo "Vercel AI SDK and LangChain.js tests passed"
