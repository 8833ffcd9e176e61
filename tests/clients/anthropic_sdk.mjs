// The official Anthropic TypeScript SDK (@anthropic-ai/sdk, pinned by run_anthropic.sh) against
// a running phalanx behind an API key: messages unary and streamed (the SDK's stream helper and
// finalMessage), a forced tool call whose input validates against its input_schema, a
// tool_result round trip, count_tokens, and errors surfaced as the SDK's typed errors. Mode
// `thinking` runs against a thinking template (DeepSeek R1's): thinking blocks come back.
// Usage: PHX_API_KEY=... node anthropic_sdk.mjs main|thinking API_URL NODE_MODULES_DIR
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const [mode, apiUrl, modules] = process.argv.slice(2);
const require = createRequire(modules + '/');
const sdk = require('@anthropic-ai/sdk');
const Anthropic = sdk.Anthropic ?? sdk.default;
const key = process.env.PHX_API_KEY;
const client = new Anthropic({ apiKey: key, baseURL: apiUrl, maxRetries: 0 });
const model = 'stories260K';
const passed = [];
const check = async (name, fn) => {
  await fn();
  passed.push(name);
};
const user = (text) => [{ role: 'user', content: text }];

// Enums and a boolean: a forced call is short whatever the tiny model prefers.
const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string', enum: ['Paris', 'Oslo'] }, metric: { type: 'boolean' } },
    required: ['city', 'metric'],
    additionalProperties: false,
  },
};
// The input against weather.input_schema: every required key, no other, each of its type.
const validWeather = (input) => {
  assert.equal(typeof input, 'object');
  assert.deepEqual(Object.keys(input).sort(), ['city', 'metric']);
  assert.ok(['Paris', 'Oslo'].includes(input.city), JSON.stringify(input));
  assert.equal(typeof input.metric, 'boolean');
};

async function main() {
  await check('messages.create', async () => {
    const m = await client.messages.create({
      model, max_tokens: 16, messages: user('Once upon a time'),
      system: [{ type: 'text', text: 'You tell stories.', cache_control: { type: 'ephemeral' } }],
      metadata: { user_id: 'sdk-user' }, temperature: 0.7, top_p: 0.95, top_k: 40,
    });
    assert.match(m.id, /^msg_/);
    assert.equal(m.type, 'message');
    assert.equal(m.role, 'assistant');
    assert.ok(['max_tokens', 'end_turn'].includes(m.stop_reason), m.stop_reason);
    assert.equal(m.content[0].type, 'text');
    assert.ok(m.content[0].text.length > 0);
    assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, JSON.stringify(m.usage));
  });

  await check('messages.stream + finalMessage', async () => {
    const stream = client.messages.stream({
      model, max_tokens: 24, messages: user('Once upon a time'),
    });
    let text = '';
    const events = [];
    stream.on('text', (t) => { text += t; });
    stream.on('streamEvent', (e) => { events.push(e.type); });
    const m = await stream.finalMessage();
    assert.equal(events[0], 'message_start');
    assert.equal(events.at(-1), 'message_stop');
    assert.ok(events.includes('content_block_delta'), events.join());
    assert.ok(text.length > 0);
    assert.equal(m.content[0].text, text);
    assert.ok(['max_tokens', 'end_turn'].includes(m.stop_reason), m.stop_reason);
    assert.ok(m.usage.output_tokens > 0);
  });

  await check('stream: true (raw events)', async () => {
    const s = await client.messages.create({
      model, max_tokens: 8, messages: user('Once upon a time'), stream: true,
    });
    const types = [];
    for await (const e of s) types.push(e.type);
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-2), 'message_delta');
    assert.equal(types.at(-1), 'message_stop');
  });

  let call;
  await check('forced tool call (tool_choice tool)', async () => {
    const m = await client.messages.create({
      model, max_tokens: 200, messages: user('What is the weather in Paris?'), tools: [weather],
      tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
    });
    assert.equal(m.stop_reason, 'tool_use');
    const uses = m.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1, JSON.stringify(m.content));
    call = uses[0];
    assert.match(call.id, /^toolu_/);
    assert.equal(call.name, 'get_weather');
    validWeather(call.input);
  });

  await check('forced tool call, streamed (input_json_delta)', async () => {
    const stream = client.messages.stream({
      model, max_tokens: 200, messages: user('What is the weather in Oslo?'), tools: [weather],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    let partial = '';
    stream.on('inputJson', (delta) => { partial += delta; });
    const m = await stream.finalMessage();
    assert.equal(m.stop_reason, 'tool_use');
    const use = m.content.find((b) => b.type === 'tool_use');
    validWeather(use.input);
    assert.deepEqual(JSON.parse(partial), use.input);
  });

  await check('tool_result round trip', async () => {
    const m = await client.messages.create({
      model, max_tokens: 16, tools: [weather],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: [call] },
        { role: 'user', content: [
          { type: 'tool_result', tool_use_id: call.id, content: '21 C and sunny' },
          { type: 'text', text: 'Tell me a story about it.' }] },
      ],
    });
    assert.ok(['max_tokens', 'end_turn', 'tool_use'].includes(m.stop_reason), m.stop_reason);
    const c = await client.messages.countTokens({
      model, tools: [weather],
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: [call] },
        { role: 'user', content: [
          { type: 'tool_result', tool_use_id: call.id, content: '21 C and sunny' },
          { type: 'text', text: 'Tell me a story about it.' }] },
      ],
    });
    assert.equal(c.input_tokens,
      m.usage.input_tokens + (m.usage.cache_read_input_tokens ?? 0), JSON.stringify(m.usage));
  });

  await check('count_tokens', async () => {
    const plain = await client.messages.countTokens({ model, messages: user('Once upon a time') });
    const withTools = await client.messages.countTokens({
      model, messages: user('Once upon a time'), tools: [weather],
    });
    assert.ok(plain.input_tokens > 0);
    assert.ok(withTools.input_tokens > plain.input_tokens + 10, `${withTools.input_tokens}`);
  });

  await check('stop_sequences', async () => {
    const first = await client.messages.create({
      model, max_tokens: 32, temperature: 0, messages: user('Once upon a time'),
    });
    const text = first.content[0].text;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    const m = await client.messages.create({
      model, max_tokens: 32, temperature: 0, messages: user('Once upon a time'),
      stop_sequences: [stop],
    });
    assert.equal(m.stop_reason, 'stop_sequence');
    assert.equal(m.stop_sequence, stop);
  });

  await check('BadRequestError for an unknown field', async () => {
    await assert.rejects(
      client.messages.create({ model, max_tokens: 8, messages: user('Hi'), bogus_field: 1 }),
      (e) => e instanceof Anthropic.BadRequestError && e.status === 400 &&
        e.error?.error?.type === 'invalid_request_error' && /bogus_field/.test(e.message));
  });

  await check('BadRequestError for an image block', async () => {
    await assert.rejects(
      client.messages.create({
        model, max_tokens: 8, messages: [{ role: 'user', content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }],
      }),
      (e) => e instanceof Anthropic.BadRequestError && /image/.test(e.message));
  });

  await check('NotFoundError for an unknown model', async () => {
    await assert.rejects(
      client.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 8, messages: user('Hi') }),
      (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error');
  });

  await check('AuthenticationError for a bad key', async () => {
    const bad = new Anthropic({ apiKey: 'sk-wrong', baseURL: apiUrl, maxRetries: 0 });
    await assert.rejects(
      bad.messages.create({ model, max_tokens: 8, messages: user('Hi') }),
      (e) => e instanceof Anthropic.AuthenticationError && e.status === 401 &&
        e.error?.error?.type === 'authentication_error');
    await assert.rejects(bad.messages.countTokens({ model, messages: user('Hi') }),
      (e) => e instanceof Anthropic.AuthenticationError);
  });

  await check('Bearer token (authToken) works as x-api-key', async () => {
    const bearer = new Anthropic({ apiKey: null, authToken: key, baseURL: apiUrl, maxRetries: 0 });
    const m = await bearer.messages.create({ model, max_tokens: 4, messages: user('Hi') });
    assert.equal(m.type, 'message');
  });
}

async function thinking() {
  await check('thinking blocks from a thinking template', async () => {
    const m = await client.messages.create({
      model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: user('Once upon a time'),
    });
    assert.equal(m.content[0].type, 'thinking', JSON.stringify(m.content).slice(0, 300));
    assert.ok(m.content[0].thinking.length > 0);
  });
  await check('thinking streamed (thinking_delta)', async () => {
    const stream = client.messages.stream({
      model, max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: user('Once upon a time'),
    });
    let thought = '';
    stream.on('thinking', (delta) => { thought += delta; });
    const m = await stream.finalMessage();
    assert.equal(m.content[0].type, 'thinking');
    assert.equal(m.content[0].thinking, thought);
    assert.ok(thought.length > 0);
  });
  await check('thinking given back in the conversation', async () => {
    const m = await client.messages.create({
      model, max_tokens: 8, messages: [
        { role: 'user', content: 'Once upon a time' },
        { role: 'assistant', content: [
          { type: 'thinking', thinking: 'A story.', signature: '' },
          { type: 'text', text: 'There was a cat.' }] },
        { role: 'user', content: 'Go on.' }],
    });
    assert.equal(m.type, 'message');
  });
}

await (mode === 'thinking' ? thinking() : main());
console.log(`anthropic SDK ${mode}: ${passed.length} checks passed: ${passed.join('; ')}`);
