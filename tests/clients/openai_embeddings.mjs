// The official OpenAI Node SDK's embeddings against a running Phalanx (run_openai.sh starts it
// on stories260K with --embeddings): the SDK's default (it asks for base64 and decodes it into
// float32 values), explicit float and base64 (decoded here), the input shapes, dimensions
// (truncated, then renormalized), and an error surfaced as the SDK's typed error.
// Usage: node openai_embeddings.mjs BASE_URL NODE_MODULES. Exits non-zero on the first mismatch.
import path from 'node:path';
import {pathToFileURL} from 'node:url';

const [base, modules] = process.argv.slice(2);
const {default: OpenAI} = await import(pathToFileURL(path.join(modules, 'openai/index.mjs')).href);

function fail(msg) {
  console.error('openai embeddings SDK test FAILED:', msg);
  process.exit(1);
}
function check(cond, msg) { if (!cond) fail(msg); }
const norm = (v) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

const c = new OpenAI({baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 60000});
const model = 'stories260K';
const text = 'Once upon a time there was a little dog.';

// The SDK's default: it sends encoding_format base64 and decodes the answer.
const byDefault = await c.embeddings.create({model, input: text});
check(byDefault.object === 'list' && byDefault.data.length === 1, 'default: ' + JSON.stringify(byDefault));
const d0 = Array.from(byDefault.data[0].embedding);
check(d0.length === 64, `default: ${d0.length} dims, want 64 (stories260K's n_embd)`);
check(Math.abs(norm(d0) - 1) < 1e-5, 'default: not unit length: ' + norm(d0));
check(byDefault.usage.prompt_tokens > 1 && byDefault.usage.total_tokens === byDefault.usage.prompt_tokens,
      'usage ' + JSON.stringify(byDefault.usage));

// Explicit float: the same float32 values.
const asFloat = await c.embeddings.create({model, input: text, encoding_format: 'float'});
const f0 = asFloat.data[0].embedding;
check(Array.isArray(f0) && f0.length === 64, 'float: not an array of 64');
for (let i = 0; i < 64; ++i) check(Math.fround(f0[i]) === d0[i], `float vs base64 at ${i}: ${f0[i]} ${d0[i]}`);

// Explicit base64: returned as the string; little-endian float32 bytes.
const asB64 = await c.embeddings.create({model, input: text, encoding_format: 'base64'});
const s = asB64.data[0].embedding;
check(typeof s === 'string', 'base64: not a string');
const buf = Buffer.from(s, 'base64');
check(buf.length === 64 * 4, 'base64: ' + buf.length + ' bytes');
for (let i = 0; i < 64; ++i) check(buf.readFloatLE(4 * i) === d0[i], `base64 bytes at ${i}`);

// Input shapes: strings, token ids, arrays of token ids; indexes in order.
const many = await c.embeddings.create({model, input: ['a cat', text, 'the end']});
check(many.data.length === 3 && many.data.every((e, i) => e.index === i), 'indexes');
check(Array.from(many.data[1].embedding).every((x, i) => x === d0[i]), 'batched text differs');
const ids = await c.embeddings.create({model, input: [1, 300, 42, 7], encoding_format: 'float'});
const idss = await c.embeddings.create({model, input: [[1, 300, 42, 7], [1, 5]], encoding_format: 'float'});
check(ids.usage.prompt_tokens === 4 && idss.usage.prompt_tokens === 6, 'token usage');
check(ids.data[0].embedding.every((x, i) => x === idss.data[0].embedding[i]), 'token ids differ');

// dimensions: the first 16 components, renormalized.
const dim = await c.embeddings.create({model, input: text, dimensions: 16, encoding_format: 'float'});
const v = dim.data[0].embedding;
check(v.length === 16 && Math.abs(norm(v) - 1) < 1e-5, 'dimensions: ' + v.length + ' ' + norm(v));
const n16 = norm(f0.slice(0, 16));
for (let i = 0; i < 16; ++i) check(Math.abs(v[i] - f0[i] / n16) < 1e-6, `dimensions at ${i}`);

// Errors as the SDK's typed error: dimensions past the model's size.
try {
  await c.embeddings.create({model, input: text, dimensions: 65});
  fail('dimensions 65: no error');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError, 'dimensions 65: ' + e?.constructor?.name);
  check(e.status === 400 && e.param === 'dimensions', `dimensions 65: ${e.status} ${e.param}`);
}
try {
  await c.embeddings.create({model, input: ''});
  fail('empty input: no error');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.param === 'input', 'empty input: ' + e);
}
console.log('openai embeddings SDK test passed');
