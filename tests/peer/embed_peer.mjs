#!/usr/bin/env node
// llama.cpp's embeddings for the embeddings peer test (node-llama-cpp 3.21.1's embedding
// context: the file's pooling_type; none gives the last token's hidden state). For each text it
// prints the exact token ids llama.cpp embedded (the text tokenized as getEmbeddingFor does, BOS /
// EOS / SEP added as the embedding context adds them) and the vector, as JSON:
// {"inputs": [{"tokens": [...], "vector": [...]}]}.
//
//   node tests/peer/embed_peer.mjs --peer-dir DIR --model M.gguf --texts TEXTS.json [--ctx 512]
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    "peer-dir": { type: "string" },
    model: { type: "string" },
    texts: { type: "string" },
    ctx: { type: "string" },
  },
});
const fail = (m) => {
  process.stderr.write(`embed_peer: ${m}\n`);
  process.exit(1);
};
if (!values.model || !values.texts || !values["peer-dir"]) fail("--peer-dir, --model, --texts");
const entry = path.join(values["peer-dir"], "node_modules/node-llama-cpp/dist/index.js");
const { getLlama } = await import(pathToFileURL(entry).href);
const texts = JSON.parse(fs.readFileSync(values.texts, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath: values.model });
const ctx = await model.createEmbeddingContext({
  contextSize: Number(values.ctx ?? 512),
  threads: 1,
});
const out = { inputs: [] };
for (const text of texts) {
  const tokens = model.tokenize(text, false);  // as getEmbeddingFor(text) tokenizes
  ctx._prepareInput(tokens);  // BOS / EOS / SEP exactly as getEmbeddingFor adds them
  const e = await ctx.getEmbeddingFor(tokens);
  out.inputs.push({ tokens: Array.from(tokens), vector: Array.from(e.vector) });
}
process.stdout.write(JSON.stringify(out) + "\n");
await ctx.dispose();
await model.dispose();
