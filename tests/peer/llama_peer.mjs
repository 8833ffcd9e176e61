#!/usr/bin/env node
// llama.cpp peer harness (node-llama-cpp 3.21.1, prebuilt CPU binary): loads a GGUF model and
// prints, as JSON on stdout, llama.cpp's view of it: model info, per prompt the prompt token
// ids (with BOS when the vocabulary asks for it), greedy token ids, the first step's top-5
// log-probabilities, and with --bench prefill/decode speeds. Used for correctness and speed
// comparisons with Phalanx. Install the peer first: scripts/peer-setup.
//
//   node tests/peer/llama_peer.mjs --model M.gguf --prompt "..." [--prompt ...] [--n 64]
//        [--threads 2] [--kv f32|f16] [--flash on|off|auto] [--stop-eog] [--ctx N] [--margins]
//        [--prompt-file F ...]
//        [--bench --prompt-tokens P --gen-tokens G --runs 5 [--warmup 1]]
//        [--peer-dir DIR] (default: $PHX_PEER_DIR or ${PHX_SCRATCH:-<repo>/.scratch}/peer)
//
// Defaults are llama.cpp's own (f16 KV cache, flash attention "auto"); for tight numeric
// comparisons use --kv f32 --flash off (log-probs within ~3e-6 of a float64 forward).
// --margins adds each greedy step's top1 - top2 log-probability margin (step_margins), read
// from the full distribution (evaluateWithMetadata with probabilities), so a comparison can stop
// at llama.cpp's first near-tie. --prompt-file reads a prompt from a file (long prompts).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const PEER_VERSION = "3.21.1";
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function fail(msg) {
  process.stderr.write(`llama_peer: ${msg}\n`);
  process.exit(1);
}

function intArg(values, name, dflt, min = 0) {
  if (values[name] === undefined) return dflt;
  const v = Number(values[name]);
  if (!Number.isInteger(v) || v < min) fail(`--${name} must be an integer >= ${min}`);
  return v;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    prompt: { type: "string", multiple: true },
    "prompt-file": { type: "string", multiple: true },
    margins: { type: "boolean" },
    n: { type: "string" },
    threads: { type: "string" },
    kv: { type: "string" },
    flash: { type: "string" },
    "stop-eog": { type: "boolean" },
    margins: { type: "boolean" },
    ctx: { type: "string" },
    bench: { type: "boolean" },
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
    runs: { type: "string" },
    warmup: { type: "string" },
    "peer-dir": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
  strict: true,
});
if (values.help) {
  process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\nimport")[0]);
  process.exit(0);
}
if (!values.model) fail("--model is required");
if (!fs.existsSync(values.model)) fail(`model ${values.model} not found`);
const prompts = [
  ...(values.prompt ?? []),
  ...(values["prompt-file"] ?? []).map((f) => fs.readFileSync(f, "utf8")),
];
const withMargins = values.margins ?? false;
const nGen = intArg(values, "n", 64);
const threads = intArg(values, "threads", 2, 1);
const kv = (values.kv ?? "f16").toLowerCase();
if (kv !== "f16" && kv !== "f32") fail("--kv must be f16 or f32");
const flashArg = values.flash ?? "auto";
const flash = { on: true, off: false, auto: "auto" }[flashArg];
if (flash === undefined) fail("--flash must be on, off or auto");
const stopEog = values["stop-eog"] ?? false;
const margins = values.margins ?? false;
const bench = values.bench ?? false;
const benchPrompt = intArg(values, "prompt-tokens", 128, 1);
const benchGen = intArg(values, "gen-tokens", 128, 1);
const benchRuns = intArg(values, "runs", 5, 1);
const benchWarmup = intArg(values, "warmup", 1, 0);
if (prompts.length === 0 && !bench) fail("give at least one --prompt, or --bench");

const peerDir =
  values["peer-dir"] ??
  process.env.PHX_PEER_DIR ??
  path.join(process.env.PHX_SCRATCH || path.join(repo, ".scratch"), "peer");
const pkgDir = path.join(peerDir, "node_modules", "node-llama-cpp");
if (!fs.existsSync(path.join(pkgDir, "package.json"))) {
  fail(`node-llama-cpp is not installed in ${peerDir}: run scripts/peer-setup`);
}
const pkgVersion = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")).version;
if (pkgVersion !== PEER_VERSION) fail(`expected node-llama-cpp ${PEER_VERSION}, found ${pkgVersion}`);
let llamaRelease = null;
try {
  llamaRelease = JSON.parse(
    fs.readFileSync(path.join(pkgDir, "llama", "binariesGithubRelease.json"), "utf8"),
  ).release;
} catch {}

const { getLlama, LlamaLogLevel } = await import(
  pathToFileURL(path.join(pkgDir, "dist", "index.js")).href
);

const llama = await getLlama({
  gpu: false,
  build: "never",
  maxThreads: threads,
  logLevel: LlamaLogLevel.error,
  progressLogs: false,
});
const model = await llama.loadModel({ modelPath: path.resolve(values.model), gpuLayers: 0 });

// Context large enough for the longest prompt plus generation (llama.cpp rounds it up).
const encoded = prompts.map((p) => {
  const ids = model.tokenize(p, false);
  const bos = model.tokens.bos;
  return model.tokens.shouldPrependBosToken && bos != null ? [bos, ...ids] : ids;
});
const longest = Math.max(
  1,
  ...encoded.map((e) => e.length + nGen),
  bench ? benchPrompt + benchGen + 1 : 0,
);
const ctxSize = intArg(values, "ctx", Math.max(256, longest), 1);
if (ctxSize < longest) fail(`--ctx ${ctxSize} is smaller than the ${longest} tokens needed`);
const kvType = kv === "f32" ? "F32" : "F16";
const context = await model.createContext({
  contextSize: ctxSize,
  batchSize: Math.min(ctxSize, 512),
  sequences: 1,
  threads: { ideal: threads, min: threads },
  flashAttention: flash,
  experimentalKvCacheKeyType: kvType,
  experimentalKvCacheValueType: kvType,
  failedCreationRemedy: false,
});
const sequence = context.getSequence();

const greedy = { temperature: 0 };

// Evaluates `tokens` (the whole prompt) and returns the first generated token, with the full
// next-token distribution when `probabilities` is set.
async function prefill(tokens, probabilities) {
  const input = tokens.map((t, i) =>
    i === tokens.length - 1
      ? [t, { generateNext: { token: true, probabilities, options: greedy } }]
      : t,
  );
  const out = await sequence.controlledEvaluate(input);
  const next = out[tokens.length - 1]?.next;
  if (next?.token == null) throw new Error("llama.cpp produced no token after the prompt");
  return next;
}

// log p(top1) - log p(top2) of a next-token distribution (a Map token -> probability); Infinity
// (null in the JSON) when top2 has probability 0.
function margin(probabilities) {
  let p1 = 0, p2 = 0;
  for (const p of probabilities.values()) {
    if (p > p1) [p1, p2] = [p, p1];
    else if (p > p2) p2 = p;
  }
  return Math.log(p1) - Math.log(p2);
}

// Greedy continuation after `first` until `count` tokens in all (or EOG with --stop-eog); with
// `margins`, the margin of each generated token's step goes to margins.
async function generate(first, count, margins) {
  const out = [first];
  if (count <= 1 || (stopEog && model.isEogToken(first))) return out;
  const steps = margins
    ? sequence.evaluateWithMetadata([first], { probabilities: true }, { ...greedy, yieldEogToken: true })
    : sequence.evaluate([first], { ...greedy, yieldEogToken: true });
  for await (const step of steps) {
    const t = margins ? step.token : step;
    if (margins) margins.push(margin(step.probabilities));
    out.push(t);
    if (out.length >= count || (stopEog && model.isEogToken(t))) break;
  }
  return out;
}

const results = [];
for (let i = 0; i < prompts.length; i++) {
  await sequence.clearHistory();
  const promptIds = encoded[i];
  if (promptIds.length === 0) fail(`prompt ${JSON.stringify(prompts[i])} has no tokens`);
  const first = await prefill(promptIds, true);
  const probs = [...first.probabilities.entries()];
  const top5 = probs
    .slice(0, 5)
    .map(([token, prob]) => ({ token, prob, logprob: Math.log(prob) }));
  const margins = withMargins ? [margin(first.probabilities)] : null;
  const generated = nGen > 0 ? await generate(first.token, nGen, margins) : [];
  results.push({
    prompt: prompts[i],
    prompt_token_ids: promptIds,
    generated_token_ids: generated,
    text: model.detokenize(generated, false, promptIds),
    stopped_on_eog: generated.length > 0 && model.isEogToken(generated[generated.length - 1]),
    n_vocab_logits: probs.length,
    first_step_top5: top5,
    ...(margins ? { step_margins: margins } : {}),
  });
}

let benchOut = null;
if (bench) {
  // Prompt tokens: the vocabulary's ordinary tokens, cycled; BOS first when the model wants it.
  const base = model.tokenize("Once upon a time, there was a little girl who loved to play.", false);
  if (base.length === 0) fail("cannot tokenize the bench text");
  const ids = [];
  if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) ids.push(model.tokens.bos);
  while (ids.length < benchPrompt) ids.push(base[ids.length % base.length]);
  const runs = [];
  for (let r = 0; r < benchWarmup + benchRuns; r++) {
    await sequence.clearHistory();
    const t0 = process.hrtime.bigint();
    const first = await prefill(ids, false);
    const t1 = process.hrtime.bigint();
    let n = 1;
    const t2 = process.hrtime.bigint();
    for await (const t of sequence.evaluate([first.token], { ...greedy, yieldEogToken: true })) {
      void t;
      if (++n > benchGen) break;
    }
    const t3 = process.hrtime.bigint();
    if (r >= benchWarmup) {
      runs.push({
        prefill_tokens_per_second: ids.length / (Number(t1 - t0) / 1e9),
        decode_tokens_per_second: benchGen / (Number(t3 - t2) / 1e9),
      });
    }
  }
  benchOut = {
    prompt_tokens: ids.length,
    gen_tokens: benchGen,
    warmup_runs: benchWarmup,
    runs,
    prefill_tokens_per_second: median(runs.map((r) => r.prefill_tokens_per_second)),
    decode_tokens_per_second: median(runs.map((r) => r.decode_tokens_per_second)),
  };
}

const info = {
  architecture: model.fileInfo?.metadata?.general?.architecture ?? null,
  description: model.typeDescription,
  n_params: model._model.getTotalParameters(),
  size_bytes: model.size,
  // Logits per step as llama.cpp returns them (null without a --prompt), and the GGUF's count.
  n_vocab: results.length > 0 ? results[0].n_vocab_logits : null,
  n_vocab_gguf: model.fileInfo?.metadata?.tokenizer?.ggml?.tokens?.length ?? null,
  train_ctx: model.trainContextSize,
  n_embd: model.embeddingVectorSize,
  bos: model.tokens.bos,
  eos: model.tokens.eos,
  add_bos: model.tokens.shouldPrependBosToken,
};

process.stdout.write(
  JSON.stringify(
    {
      engine: {
        name: `llama.cpp via node-llama-cpp@${pkgVersion}`,
        llama_cpp_release: llamaRelease,
        gpu: false,
        threads,
      },
      model: values.model,
      model_info: info,
      settings: {
        sampling: "greedy (temperature 0), no penalties",
        max_new_tokens: nGen,
        stop_on_eog: stopEog,
        kv_cache: kv,
        flash_attention: flashArg,
        context_size: context.contextSize,
      },
      results,
      bench: benchOut,
    },
    null,
    2,
  ) + "\n",
);
await context.dispose();
await model.dispose();
await llama.dispose();
