#!/usr/bin/env node
// Compares Phalanx's greedy tokens (phx_greedy_tokens) with llama.cpp's (llama_peer.mjs
// --margins) prompt by prompt: the prompt token ids must be equal, and the generated tokens
// equal up to llama.cpp's first near-tie step (top1 - top2 log-probability margin below --tie),
// where rounding may legitimately pick the other token. Exit 0: equal, with at least --min
// compared tokens over all prompts; 1: a mismatch (or bad input); 3: equal but too few
// informative steps (the caller tries another seed).
//   node compare_greedy.mjs PEER.json OURS.json --min 16 --tie 0.02 --name NAME
import fs from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  options: { min: { type: "string" }, tie: { type: "string" }, name: { type: "string" } },
  allowPositionals: true,
});
const [peerPath, oursPath] = positionals;
const minCompared = Number(values.min ?? 16);
const tie = Number(values.tie ?? 0.02);
const name = values.name ?? "model";
const peer = JSON.parse(fs.readFileSync(peerPath, "utf8"));
const ours = JSON.parse(fs.readFileSync(oursPath, "utf8"));
const fail = (msg) => {
  console.error(`${name}: MISMATCH: ${msg}`);
  process.exit(1);
};
if (peer.results.length !== ours.length) fail(`${peer.results.length} vs ${ours.length} prompts`);
let compared = 0;
const notes = [];
peer.results.forEach((r, i) => {
  const o = ours[i];
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(r.prompt_token_ids, o.prompt_token_ids)) {
    fail(`prompt ${i}: token ids differ (llama.cpp ${r.prompt_token_ids.length} tokens, ` +
         `phalanx ${o.prompt_token_ids.length})`);
  }
  // null: an infinite margin (top2 probability 0), which JSON cannot carry.
  const m = r.step_margins?.map((x) => (x === null ? Infinity : x));
  if (!Array.isArray(m) || m.length !== r.generated_token_ids.length) fail("peer has no margins");
  let k = m.findIndex((x) => x < tie);
  if (k < 0) k = m.length;
  for (let j = 0; j < k; j++) {
    if (o.generated_token_ids[j] !== r.generated_token_ids[j]) {
      fail(`prompt ${i} (${r.prompt_token_ids.length} tokens): step ${j} phalanx ` +
           `${o.generated_token_ids[j]} llama.cpp ${r.generated_token_ids[j]} (llama.cpp margin ` +
           `${m[j].toFixed(4)}, phalanx ${o.margins[j]?.toFixed(4)}); equal before: ` +
           `${r.generated_token_ids.slice(0, j).join(" ")}`);
    }
  }
  compared += k;
  notes.push(`prompt ${i}: ${r.prompt_token_ids.length} prompt tokens, ${k}/${m.length} equal` +
             (k < m.length ? ` (near-tie ${m[k].toFixed(4)} at ${k})` : ""));
});
const summary = `${name}: ${compared} tokens equal to llama.cpp before its first near-tie; ` +
                notes.join("; ");
if (compared < minCompared) {
  console.error(`${summary} -- fewer than ${minCompared}`);
  process.exit(3);
}
console.log(summary);
