// The official OpenAI Node SDK against a running Phalanx OpenAI API (run_openai.sh starts it).
// Usage: node openai_sdk.mjs main|auth|reasoning|tools BASE_URL NODE_MODULES
// (auth reads PHX_API_KEY; reasoning wants a server whose chat template thinks, DeepSeek R1's)
// Exits non-zero on the first mismatch.
import path from 'node:path';
import fs from 'node:fs';
import {pathToFileURL} from 'node:url';

const [mode, base, modules] = process.argv.slice(2);
const {default: OpenAI} = await import(pathToFileURL(path.join(modules, 'openai/index.mjs')).href);
const version = JSON.parse(fs.readFileSync(path.join(modules, 'openai/package.json'))).version;

function fail(msg) {
  console.error('openai SDK test FAILED:', msg);
  process.exit(1);
}
function check(cond, msg) { if (!cond) fail(msg); }
const show = (x) => JSON.stringify(x);

function client(apiKey = 'unused', defaultHeaders = {}) {
  return new OpenAI({baseURL: base + '/v1', apiKey, maxRetries: 0, timeout: 60000,
                     defaultHeaders});
}

// Calls fn, expects it to throw the SDK error class `cls` with HTTP `status`.
async function expectError(what, cls, status, fn) {
  try {
    await fn();
  } catch (e) {
    check(e instanceof cls, `${what}: ${e?.constructor?.name} instead of ${cls.name}: ${e}`);
    check(e.status === status, `${what}: status ${e.status}, want ${status}`);
    return e;
  }
  fail(`${what}: no error`);
}

async function main() {
  const c = client();
  // models.list
  const models = [];
  for await (const m of c.models.list()) models.push(m);
  check(models.length === 1 && models[0].object === 'model', 'models ' + show(models));
  const model = models[0].id;
  check(model === 'stories260K', 'model id ' + model);

  // Completions: plain, then streamed; the greedy texts agree.
  const req = {model, prompt: 'Once upon a time', max_tokens: 24, temperature: 0,
               ignore_eos: true};
  const plain = await c.completions.create(req);
  check(plain.object === 'text_completion', 'object ' + plain.object);
  check(plain.id.startsWith('cmpl-'), 'id ' + plain.id);
  check(plain.model === model, 'model ' + plain.model);
  const choice = plain.choices[0];
  check(plain.choices.length === 1 && choice.index === 0, 'choices ' + show(plain.choices));
  check(choice.text.length > 0, 'empty text');
  check(choice.finish_reason === 'length', 'finish ' + choice.finish_reason);
  check(plain.usage.completion_tokens === 24 && plain.usage.prompt_tokens > 0 &&
        plain.usage.total_tokens === plain.usage.prompt_tokens + 24, 'usage ' + show(plain.usage));
  check(typeof plain.usage.prompt_tokens_details?.cached_tokens === 'number',
        'cached_tokens ' + show(plain.usage));

  const stream = await c.completions.create({...req, stream: true,
                                             stream_options: {include_usage: true}});
  let text = '', finish = null, usage = null, chunks = 0;
  for await (const ch of stream) {
    ++chunks;
    check(ch.object === 'text_completion', 'chunk object ' + ch.object);
    if (ch.usage) usage = ch.usage;
    for (const ci of ch.choices) {
      text += ci.text;
      if (ci.finish_reason) finish = ci.finish_reason;
    }
  }
  check(text === choice.text, `stream ${show(text)} != plain ${show(choice.text)}`);
  check(finish === 'length', 'stream finish ' + finish);
  check(usage && usage.completion_tokens === 24, 'stream usage ' + show(usage));
  check(chunks >= 3, 'chunks ' + chunks);

  // A prompt of token ids, echo, and logprobs.
  const ids = await c.completions.create({model, prompt: [1, 403, 407, 261], max_tokens: 4,
                                          temperature: 0, logprobs: 2});
  const lp = ids.choices[0].logprobs;
  check(lp && lp.tokens.length === 4 && lp.token_logprobs.length === 4 &&
        lp.top_logprobs.length === 4, 'logprobs ' + show(lp));
  const echo = await c.completions.create({model, prompt: 'Once upon', max_tokens: 3,
                                           temperature: 0, echo: true});
  check(echo.choices[0].text.startsWith('Once upon'), 'echo ' + show(echo.choices[0].text));

  // Chat: plain and streamed.
  const chatReq = {model, max_tokens: 16, temperature: 0,
                   messages: [{role: 'system', content: 'You tell stories.'},
                              {role: 'user', content: 'Tell me about a cat.'}]};
  const chat = await c.chat.completions.create(chatReq);
  check(chat.object === 'chat.completion', 'chat object ' + chat.object);
  check(chat.id.startsWith('chatcmpl-'), 'chat id ' + chat.id);
  const msg = chat.choices[0].message;
  check(msg.role === 'assistant' && typeof msg.content === 'string' && msg.content.length > 0,
        'message ' + show(msg));
  check(['stop', 'length'].includes(chat.choices[0].finish_reason),
        'chat finish ' + chat.choices[0].finish_reason);
  const chatStream = await c.chat.completions.create({...chatReq, stream: true,
                                                      stream_options: {include_usage: true}});
  let content = '', first = null, chatUsage = null;
  for await (const ch of chatStream) {
    check(ch.object === 'chat.completion.chunk', 'chat chunk object ' + ch.object);
    if (ch.usage) chatUsage = ch.usage;
    if (ch.choices.length === 0) continue;
    if (first === null) first = ch.choices[0].delta;
    content += ch.choices[0].delta.content ?? '';
  }
  check(first && first.role === 'assistant', 'first delta ' + show(first));
  check(content === msg.content, `chat stream ${show(content)} != ${show(msg.content)}`);
  check(chatUsage && chatUsage.completion_tokens === chat.usage.completion_tokens,
        'chat usage ' + show(chatUsage));

  // Errors: the SDK raises its typed errors; the server keeps serving.
  const bad = await expectError('bad temperature', OpenAI.BadRequestError, 400, () =>
    c.completions.create({model, prompt: 'x', temperature: 'hot'}));
  check(bad.param === 'temperature' && bad.type === 'invalid_request_error',
        'error fields ' + show(bad.error));
  const nBad = await expectError('n=17', OpenAI.BadRequestError, 400, () =>
    c.completions.create({model, prompt: 'x', n: 17}));
  check(nBad.param === 'n', 'n error ' + show(nBad.error));
  // n choices (seed i for choice i), the prompt counted once.
  const two = await c.chat.completions.create({model, messages: [{role: 'user', content: 'Hi'}],
                                               n: 2, max_tokens: 6, seed: 3});
  check(two.choices.length === 2 && two.choices.map(ch => ch.index).join() === '0,1',
        'n=2 choices ' + show(two.choices));
  await expectError('batched prompt', OpenAI.BadRequestError, 400, () =>
    c.completions.create({model, prompt: ['a', 'b']}));
  const badMsg = await expectError('bad message', OpenAI.BadRequestError, 400, () =>
    c.chat.completions.create({model, messages: [{role: 'user', content: 5}]}));
  check(badMsg.param === 'messages[0].content', 'bad message param ' + show(badMsg.error));
  const nf = await expectError('unknown model', OpenAI.NotFoundError, 404, () =>
    c.completions.create({model: 'gpt-nope', prompt: 'x'}));
  check(nf.code === 'model_not_found', 'model error ' + show(nf.error));
  // Strict fields (issue 26): an unknown field is a 400 naming it; a schema that does not
  // compile is a 400 naming the field and the JSON pointer; a valid one is accepted.
  const unk = await expectError('unknown field', OpenAI.BadRequestError, 400, () =>
    c.chat.completions.create({...chatReq, frobnicate: 1}));
  check(unk.param === 'frobnicate', 'unknown field param ' + show(unk.error));
  const badSchema = await expectError('bad schema', OpenAI.BadRequestError, 400, () =>
    c.chat.completions.create({...chatReq, response_format: {type: 'json_schema', json_schema: {
      name: 'x', strict: true, schema: {type: 'object', properties: {a: {type: 'strng'}}}}}}));
  check(badSchema.param === 'response_format.json_schema.schema' &&
        /#\/properties\/a/.test(badSchema.message), 'bad schema error ' + show(badSchema.error));
  const js = await c.chat.completions.create({...chatReq, max_tokens: 4, metadata: {k: 'v'},
    store: false, response_format: {type: 'json_schema', json_schema: {name: 'p', strict: true,
      schema: {type: 'object', properties: {n: {type: 'integer'}}, required: ['n'],
               additionalProperties: false}}}});
  check(js.choices.length === 1, 'json_schema request ' + show(js));
  const again = await c.completions.create({model, prompt: 'Once', max_tokens: 2});
  check(again.choices[0].text !== undefined, 'serving after errors');
}

async function auth() {
  const key = process.env.PHX_API_KEY;
  check(key, 'PHX_API_KEY not set');
  const none = await expectError('no key', OpenAI.AuthenticationError, 401, () =>
    client('unused', {Authorization: null}).completions.create({prompt: 'x', max_tokens: 2}));
  check(/missing API key/.test(none.message), 'no-key message ' + none.message);
  await expectError('wrong key', OpenAI.AuthenticationError, 401, () =>
    client('sk-wrong').chat.completions.create({messages: [{role: 'user', content: 'x'}]}));
  await expectError('models without key', OpenAI.AuthenticationError, 401, async () => {
    for await (const m of client('sk-wrong').models.list()) void m;
  });
  const ok = await client(key).completions.create({prompt: 'Once', max_tokens: 3});
  check(ok.usage.completion_tokens >= 1, 'with key ' + show(ok.usage));
}

// A thinking template (DeepSeek R1's opens <think> in the generation prompt): the SDK hands
// over message.reasoning_content and delta.reasoning_content; streamed and whole agree.
async function reasoning() {
  const c = client();
  const req = {messages: [{role: 'user', content: 'Once upon a time'}], max_tokens: 12,
               temperature: 0, ignore_eos: true};
  const whole = await c.chat.completions.create(req);
  const msg = whole.choices[0].message;
  check(typeof msg.reasoning_content === 'string' && msg.reasoning_content.length > 0,
        'reasoning_content ' + show(msg));
  check(msg.content === '', 'content besides the reasoning ' + show(msg));
  const stream = await c.chat.completions.create({...req, stream: true});
  let r = '', content = '';
  for await (const ch of stream) {
    const d = ch.choices[0]?.delta ?? {};
    if (d.reasoning_content) r += d.reasoning_content;
    if (d.content) content += d.content;
  }
  check(r === msg.reasoning_content, `streamed ${show(r)} != ${show(msg.reasoning_content)}`);
  check(content === '', 'streamed content ' + show(content));
}

// Tool calling on a chatml server (the generic JSON tool-call format): forced (`required`),
// named, `auto` and `none`, unary and streamed; every call's arguments validate against the
// tool's schema. The schemas take enums and booleans only, so a tiny model's forced call is
// short and cannot run past max_tokens.
// (stories260K has a 512-token context and a 512-token vocabulary: the tools are small.)
const kTools = [
  {type: 'function', function: {name: 'get_weather',
    parameters: {type: 'object', properties: {city: {enum: ['Paris', 'Oslo']},
                 metric: {type: 'boolean'}}, required: ['city', 'metric']}}},
  {type: 'function', function: {name: 'get_time',
    parameters: {type: 'object', properties: {zone: {enum: ['UTC', 'CET']}},
                 required: ['zone']}}},
];
function validCall(tc, names) {
  check(tc.type === 'function', 'type ' + show(tc));
  check(/^call_[A-Za-z0-9]{24}$/.test(tc.id), 'id ' + show(tc.id));
  check(names.includes(tc.function.name), 'name ' + show(tc));
  const a = JSON.parse(tc.function.arguments);
  if (tc.function.name === 'get_weather') {
    check(['Paris', 'Oslo'].includes(a.city) && typeof a.metric === 'boolean' &&
          Object.keys(a).length === 2, 'arguments ' + tc.function.arguments);
  } else {
    check(['UTC', 'CET'].includes(a.zone) && Object.keys(a).length === 1,
          'arguments ' + tc.function.arguments);
  }
}
// A forced answer ends with its calls; with parallel calls the tiny model may go on adding
// calls until its 512-token context ends (length; the complete calls are still returned).
function forcedFinish(finish, parallel) {
  check(finish === 'tool_calls' || (parallel && finish === 'length'), 'finish ' + finish);
}
// Streams a request and assembles the answer from the deltas as a client does.
async function streamed(c, req) {
  const stream = await c.chat.completions.create({...req, stream: true});
  let content = '', finish = null;
  const calls = [];
  for await (const ch of stream) {
    const choice = ch.choices[0];
    if (!choice) continue;
    if (choice.finish_reason) finish = choice.finish_reason;
    const d = choice.delta ?? {};
    if (d.content) content += d.content;
    for (const t of d.tool_calls ?? []) {
      if (t.id) {
        check(t.index === calls.length, 'delta index ' + show(t));
        calls.push({id: t.id, type: t.type, function: {name: t.function.name, arguments: ''}});
      }
      check(t.index < calls.length, 'delta before its call ' + show(t));
      calls[t.index].function.arguments += t.function?.arguments ?? '';
    }
  }
  // Cut by max_tokens or the context, the last streamed call may be partial (as with OpenAI).
  const last = calls[calls.length - 1];
  if (finish === 'length' && last) {
    try { JSON.parse(last.function.arguments); } catch { calls.pop(); }
  }
  return {content, calls, finish};
}
async function tools() {
  const c = client();
  const base = {messages: [{role: 'user', content: 'What is the weather in Paris?'}],
                tools: kTools, max_tokens: 200, temperature: 0.8, seed: 7};
  const names = ['get_weather', 'get_time'];
  for (const parallel of [true, false]) {
    // required: one or more calls (exactly one without parallel calls), unary and streamed.
    const req = {...base, tool_choice: 'required', parallel_tool_calls: parallel};
    const r = await c.chat.completions.create(req);
    const m = r.choices[0].message;
    forcedFinish(r.choices[0].finish_reason, parallel);
    check(m.tool_calls?.length >= 1, 'no tool call: ' + show(m));
    if (!parallel) check(m.tool_calls.length === 1, 'parallel false: ' + show(m.tool_calls));
    m.tool_calls.forEach((tc) => validCall(tc, names));
    const s = await streamed(c, req);
    forcedFinish(s.finish, parallel);
    check(s.calls.length >= 1, 'streamed: no tool call');
    if (!parallel) check(s.calls.length === 1, 'streamed parallel false: ' + show(s.calls));
    s.calls.forEach((tc) => validCall(tc, names));
  }
  // A named function: that one only.
  const named = {...base, tool_choice: {type: 'function', function: {name: 'get_time'}}};
  const n = await c.chat.completions.create(named);
  check(n.choices[0].message.tool_calls?.length >= 1, 'named: ' + show(n.choices[0]));
  n.choices[0].message.tool_calls.forEach((tc) => validCall(tc, ['get_time']));
  const ns = await streamed(c, named);
  check(ns.calls.length >= 1, 'named streamed: no call');
  ns.calls.forEach((tc) => validCall(tc, ['get_time']));
  // auto: a call or an answer, each well formed; the streamed answer agrees in kind.
  for (const seed of [1, 2, 3]) {
    const req = {...base, tool_choice: 'auto', seed};
    const a = await c.chat.completions.create(req);
    const am = a.choices[0].message;
    if (am.tool_calls?.length) {
      forcedFinish(a.choices[0].finish_reason, true);
      am.tool_calls.forEach((tc) => validCall(tc, names));
    } else {
      check(typeof am.content === 'string', 'auto content ' + show(am));
    }
    const as = await streamed(c, req);
    as.calls.forEach((tc) => validCall(tc, names));
    check(as.calls.length === (am.tool_calls?.length ?? 0), 'auto streamed ' + show(as));
    check(as.content === (am.content ?? ''), `auto streamed content ${show(as.content)}`);
  }
  // none: plain text, no calls.
  const none = await c.chat.completions.create({...base, tool_choice: 'none', max_tokens: 8});
  check(!none.choices[0].message.tool_calls, 'none: ' + show(none.choices[0]));
  // Bad tools: 400 naming the field.
  const e = await expectError('bad tool schema', OpenAI.BadRequestError, 400, () =>
    c.chat.completions.create({...base, tools: [{type: 'function', function: {name: 'f',
      parameters: {type: 'object', properties: {x: {$ref: '#/$defs/none'}}}}}]}));
  check(e.param === 'tools[0].function.parameters', 'param ' + e.param);
  await expectError('unknown named tool', OpenAI.BadRequestError, 400, () =>
    c.chat.completions.create({...base, tool_choice: {type: 'function',
                                                       function: {name: 'nope'}}}));
}

try {
  if (mode === 'main') await main();
  else if (mode === 'reasoning') await reasoning();
  else if (mode === 'auth') await auth();
  else if (mode === 'tools') await tools();
  else fail('mode ' + mode);
} catch (e) {
  fail(e?.stack ?? e);
}
console.log(`openai@${version} ${mode}: ok`);
