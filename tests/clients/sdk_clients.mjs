// The Vercel AI SDK and LangChain.js against a running phalanx (strict request checking): each
// library's own API for text, streaming, a forced tool call and a JSON-schema object. Every
// check fails when the server ignores what was asked (no tool call, an object that does not
// validate, an error status for a field the library sends).
// Usage: node sdk_clients.mjs API_URL NODE_MODULES_DIR
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const [apiUrl, modules] = process.argv.slice(2);
const require = createRequire(modules + '/');
const { generateText, streamText, tool, Output } = require('ai');
const { createOpenAICompatible } = require('@ai-sdk/openai-compatible');
const { ChatOpenAI } = require('@langchain/openai');
const { z } = require('zod');

const baseURL = apiUrl + '/v1';
// Bounded so that a tiny model's answer completes: a short name, an integer in a range.
const Person = z.object({ name: z.string().min(1).max(12), age: z.number().int().min(0).max(120) });
const weatherParams = z.object({ city: z.string().max(16) });
const passed = [];
const check = async (name, fn) => {
  await fn();
  passed.push(name);
};

// --- Vercel AI SDK ---
const provider = createOpenAICompatible({
  name: 'phalanx', baseURL, apiKey: 'unused', supportsStructuredOutputs: true,
});
const model = provider('stories260K');

await check('ai: generateText', async () => {
  const r = await generateText({ model, prompt: 'Once upon a time', maxOutputTokens: 12 });
  assert.ok(r.text.length > 0, 'empty text');
  assert.ok(['stop', 'length'].includes(r.finishReason), r.finishReason);
  assert.ok(r.usage.outputTokens > 0);
});

await check('ai: streamText', async () => {
  const s = streamText({ model, prompt: 'Once upon a time', maxOutputTokens: 12 });
  let chunks = 0, text = '';
  for await (const t of s.textStream) { chunks++; text += t; }
  assert.ok(chunks > 1, `chunks=${chunks}`);
  assert.equal(text, await s.text);
});

const weather = tool({
  description: 'The weather in a city', inputSchema: weatherParams,
  execute: async ({ city }) => `sunny in ${city}`,
});
// With parallel calls allowed (the SDK's default) a tiny model may keep adding calls until
// max_tokens: every complete call still comes back and validates. With parallel_tool_calls
// false (passed through the provider's options) the answer is exactly one call, finished with
// tool-calls, and the SDK runs the tool.
for (const [label, toolChoice, parallel] of [['required', 'required', true],
  ['required, one call', 'required', false],
  ['named, one call', { type: 'tool', toolName: 'weather' }, false]]) {
  await check(`ai: forced tool call (${label})`, async () => {
    const r = await generateText({
      model, prompt: 'What is the weather in Paris?', tools: { weather }, toolChoice,
      maxOutputTokens: 200,
      providerOptions: parallel ? undefined : { phalanx: { parallel_tool_calls: false } },
    });
    assert.ok(r.toolCalls.length >= 1, 'no tool call');
    for (const c of r.toolCalls) {
      assert.equal(c.toolName, 'weather');
      weatherParams.parse(c.input);
    }
    if (parallel) {
      assert.ok(['tool-calls', 'length'].includes(r.finishReason), r.finishReason);
    } else {
      assert.equal(r.finishReason, 'tool-calls');
      assert.equal(r.toolCalls.length, 1);
      assert.match(r.toolResults[0].output, /^sunny in /);
    }
  });
}

await check('ai: Output.object (json_schema)', async () => {
  const r = await generateText({
    model, prompt: 'Describe a person.', output: Output.object({ schema: Person }),
    maxOutputTokens: 200,
  });
  Person.parse(r.output);
});

// --- LangChain.js ---
const chat = new ChatOpenAI({
  model: 'stories260K', apiKey: 'unused', configuration: { baseURL }, maxTokens: 200,
});

await check('langchain: invoke', async () => {
  const m = await new ChatOpenAI({
    model: 'stories260K', apiKey: 'unused', configuration: { baseURL }, maxTokens: 12,
  }).invoke('Once upon a time');
  assert.ok(typeof m.content === 'string' && m.content.length > 0);
});

await check('langchain: stream', async () => {
  let chunks = 0, text = '';
  const short = new ChatOpenAI({
    model: 'stories260K', apiKey: 'unused', configuration: { baseURL }, maxTokens: 12,
    streamUsage: true,
  });
  for await (const c of await short.stream('Once upon a time')) { chunks++; text += c.content; }
  assert.ok(chunks > 1 && text.length > 0, `chunks=${chunks}`);
});

await check('langchain: bindTools forced', async () => {
  const m = await chat.bindTools([{
    type: 'function',
    function: {
      name: 'weather', description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 16 } },
        required: ['city'], additionalProperties: false },
    },
  }], { tool_choice: 'required' }).invoke('What is the weather in Paris?');
  assert.ok(m.tool_calls.length >= 1, 'no tool call');
  assert.equal(m.tool_calls[0].name, 'weather');
  weatherParams.parse(m.tool_calls[0].args);
});

await check('langchain: withStructuredOutput', async () => {
  const o = await chat.withStructuredOutput(Person, { name: 'person' }).invoke('Describe a person.');
  Person.parse(o);
});

console.log(`${passed.length} checks passed:\n  ${passed.join('\n  ')}`);
