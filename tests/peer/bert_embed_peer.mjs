#!/usr/bin/env node
// llama.cpp's embeddings of a bert model (node-llama-cpp 3.21.1's embedding context, pooled as
// the file's pooling_type says) for the bert embeddings peer check. For each text it prints the
// token ids llama.cpp embedded (getEmbeddingFor's tokenization, [CLS]/[SEP] added as the embedding
// context adds them) and the vector: {"inputs": [{"tokens": [...], "vector": [...]}]}.
//   node tests/peer/bert_embed_peer.mjs PEER_DIR MODEL.gguf TEXTS.json
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [peerDir, modelPath, textsPath] = process.argv.slice(2);
if (!textsPath) {
  process.stderr.write("usage: bert_embed_peer.mjs PEER_DIR MODEL.gguf TEXTS.json\n");
  process.exit(1);
}
const entry = path.join(peerDir, "node_modules/node-llama-cpp/dist/index.js");
const { getLlama } = await import(pathToFileURL(entry).href);
const texts = JSON.parse(fs.readFileSync(textsPath, "utf8"));
const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath });
const ctx = await model.createEmbeddingContext({ contextSize: 512, threads: 1 });
const out = { inputs: [] };
for (const text of texts) {
  const tokens = model.tokenize(text, false);  // as getEmbeddingFor(text) tokenizes
  ctx._prepareInput(tokens);  // [CLS] / [SEP] exactly as getEmbeddingFor adds them
  const e = await ctx.getEmbeddingFor(tokens);
  out.inputs.push({ tokens: Array.from(tokens), vector: Array.from(e.vector) });
}
process.stdout.write(JSON.stringify(out) + "\n");
await ctx.dispose();
await model.dispose();
