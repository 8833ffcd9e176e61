#!/usr/bin/env bash
# Sanity check of the peer harness: llama_peer.mjs on stories260K with llama.cpp's default
# settings must reproduce ../shared/refs/stories260K_greedy.json (prompt ids with BOS, 64
# greedy tokens, decoded text, first-step top-5 probabilities).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shared="${PHX_SHARED_DIR:-$repo/../shared}"
ref="$shared/refs/stories260K_greedy.json"
peer="$("$repo/scripts/peer-setup")" || { echo "stories_ref_test: peer-setup failed" >&2; exit 1; }
out="$(mktemp "${TMPDIR:-/tmp}/phx_stories_ref.XXXXXX.json")"
trap 'rm -f "$out"' EXIT
mapfile -t prompts < <(node -e 'for (const r of require(process.argv[1]).results) console.log(JSON.stringify(r.prompt))' "$ref")
args=()
for p in "${prompts[@]}"; do args+=(--prompt "$(node -e 'process.stdout.write(JSON.parse(process.argv[1]))' "$p")"); done
node "$repo/tests/peer/llama_peer.mjs" --peer-dir "$peer" --model "$shared/models/stories260K.gguf" \
  "${args[@]}" --n 64 --threads 1 >"$out"
node - "$ref" "$out" <<'JS'
const [ref, got] = process.argv.slice(2).map((f) => require(f));
const bad = [];
if (ref.results.length !== got.results.length) bad.push("number of prompts differs");
ref.results.forEach((r, i) => {
  const g = got.results[i] ?? {};
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(r.prompt_token_ids, g.prompt_token_ids)) bad.push(`${i}: prompt ids ${g.prompt_token_ids}`);
  if (!same(r.generated_token_ids, g.generated_token_ids)) bad.push(`${i}: generated ids differ`);
  if (r.text !== g.text) bad.push(`${i}: text ${JSON.stringify(g.text)}`);
  r.first_step_top5.forEach((t, k) => {
    const u = g.first_step_top5?.[k];
    if (!u || u.token !== t.token || Math.abs(u.logprob - t.logprob) > 1e-4) {
      bad.push(`${i}: top5[${k}] ${JSON.stringify(u)} vs ${JSON.stringify(t)}`);
    }
  });
});
if (bad.length) {
  console.error("stories_ref_test: FAIL\n  " + bad.join("\n  "));
  process.exit(1);
}
console.log(`stories_ref_test: PASS (${ref.results.length} prompts reproduced)`);
JS
