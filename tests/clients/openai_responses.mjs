// The official OpenAI Node SDK's Responses API (client.responses) against a running Phalanx
// (run_openai.sh starts it): unary and streamed answers (the SDK's own stream accumulator and
// output_text), a forced function call whose arguments validate against the tool's parameters
// (unary and streamed), a json_schema text.format whose output parses and validates, a
// function_call_output round trip, and unknown / unsupported fields as the SDK's
// BadRequestError naming the field. `reasoning` mode wants a thinking template (DeepSeek R1's):
// the think block is a reasoning item with reasoning_text content, unary and streamed, or with
// reasoning.summary its summary_text part, streamed as reasoning_summary_* events.
// Usage: node openai_responses.mjs main|reasoning BASE_URL NODE_MODULES
import path from 'node:path';
import fs from 'node:fs';
import {pathToFileURL} from 'node:url';

const [mode, base, modules] = process.argv.slice(2);
const {default: OpenAI} = await import(pathToFileURL(path.join(modules, 'openai/index.mjs')).href);
const version = JSON.parse(fs.readFileSync(path.join(modules, 'openai/package.json'))).version;

function fail(msg) {
  console.error('openai SDK responses test FAILED:', msg);
  process.exit(1);
}
function check(cond, msg) { if (!cond) fail(msg); }
const show = (x) => JSON.stringify(x);
const client = () => new OpenAI({baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0,
                                 timeout: 60000});

async function expectBadRequest(what, param, fn) {
  try {
    await fn();
  } catch (e) {
    check(e instanceof OpenAI.BadRequestError, `${what}: ${e?.constructor?.name}: ${e}`);
    check(e.status === 400, `${what}: status ${e.status}`);
    check(e.param === param, `${what}: param ${e.param}, want ${param}`);
    check(e.message.includes(param), `${what}: message ${e.message}`);
    return;
  }
  fail(`${what}: no error`);
}

// Streams `req` through the SDK's helper: the event types in order (runs of one delta type
// merged), checked sequence numbers, and the SDK's final response.
async function streamed(c, req) {
  const stream = c.responses.stream(req);
  const types = [];
  let seq = 0;
  for await (const ev of stream) {
    check(ev.sequence_number === seq++, 'sequence ' + show(ev));
    const last = types[types.length - 1];
    if (!(last === ev.type && ev.type.endsWith('.delta'))) types.push(ev.type);
  }
  return {types, final: await stream.finalResponse()};
}

const kWeather = {type: 'function', name: 'get_weather', strict: true,
  description: 'The weather in a city',
  parameters: {type: 'object', properties: {city: {enum: ['Paris', 'Oslo']},
               metric: {type: 'boolean'}}, required: ['city', 'metric'],
               additionalProperties: false}};

function validCall(item) {
  check(item.type === 'function_call', 'not a call ' + show(item));
  check(item.name === 'get_weather', 'name ' + show(item));
  check(item.call_id.startsWith('call_') && item.id.startsWith('fc_'), 'ids ' + show(item));
  check(item.status === 'completed', 'call status ' + show(item));
  const a = JSON.parse(item.arguments);
  check(['Paris', 'Oslo'].includes(a.city) && typeof a.metric === 'boolean' &&
        Object.keys(a).length === 2, 'arguments ' + item.arguments);
}

async function main() {
  const c = client();
  const model = (await c.models.list()).data[0].id;
  // Unary, then streamed: the greedy texts agree.
  const req = {model, input: 'Once upon a time', instructions: 'Tell a story.',
               max_output_tokens: 16, temperature: 0, ignore_eos: true};
  const r = await c.responses.create(req);
  check(r.object === 'response' && r.id.startsWith('resp_'), 'response ' + show(r));
  check(r.model === model, 'model ' + r.model);
  check(r.status === 'incomplete' && r.incomplete_details?.reason === 'max_output_tokens',
        'status ' + show(r));
  check(typeof r.output_text === 'string' && r.output_text.length > 0, 'output_text ' + show(r));
  check(r.output.length === 1 && r.output[0].type === 'message' &&
        r.output[0].role === 'assistant', 'output ' + show(r.output));
  check(r.usage.output_tokens === 16 && r.usage.input_tokens > 0 &&
        r.usage.total_tokens === r.usage.input_tokens + 16, 'usage ' + show(r.usage));
  check(r.instructions === 'Tell a story.' && r.max_output_tokens === 16, 'echo ' + show(r));
  const s = await streamed(c, req);
  check(show(s.types) === show(['response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.incomplete']), 'streamed events ' + show(s.types));
  check(s.final.output_text === r.output_text,
        `streamed ${show(s.final.output_text)} != ${show(r.output_text)}`);
  check(s.final.status === 'incomplete', 'streamed status ' + s.final.status);

  // A forced function call, unary and streamed.
  const callReq = {model, input: 'What is the weather in Paris?', tools: [kWeather],
                   tool_choice: 'required', parallel_tool_calls: false,
                   max_output_tokens: 200, temperature: 0.8, seed: 7};
  const fc = await c.responses.create(callReq);
  check(fc.status === 'completed', 'call status ' + show(fc));
  check(fc.output.length === 1, 'call output ' + show(fc.output));
  validCall(fc.output[0]);
  const fs2 = await streamed(c, callReq);
  check(show(fs2.types) === show(['response.created', 'response.in_progress',
    'response.output_item.added', 'response.function_call_arguments.delta',
    'response.function_call_arguments.done', 'response.output_item.done',
    'response.completed']), 'streamed call events ' + show(fs2.types));
  validCall(fs2.final.output[0]);
  check(fs2.final.output[0].arguments === fc.output[0].arguments, 'same seed, same call');

  // The call's output sent back: the SDK's own items as input.
  const rt = await c.responses.create({model, tools: [kWeather], tool_choice: 'none',
    max_output_tokens: 4, input: [{role: 'user', content: 'What is the weather in Paris?'},
      ...fc.output,
      {type: 'function_call_output', call_id: fc.output[0].call_id, output: '{"c": 21}'}]});
  check(rt.output.at(-1).type === 'message', 'round trip ' + show(rt.output));
  // The call and its output are in the prompt: longer than the question alone.
  const q = await c.responses.create({model, tools: [kWeather], tool_choice: 'none',
    max_output_tokens: 1, input: [{role: 'user', content: 'What is the weather in Paris?'}]});
  check(rt.usage.input_tokens > q.usage.input_tokens + 10,
        `round trip prompt ${rt.usage.input_tokens} vs ${q.usage.input_tokens}`);

  // json_schema text.format: the output parses and validates.
  const schema = {type: 'object', properties: {mood: {enum: ['happy', 'sad']},
                  ok: {type: 'boolean'}}, required: ['mood', 'ok'], additionalProperties: false};
  const js = await c.responses.create({model, input: 'How are you?', max_output_tokens: 100,
    text: {format: {type: 'json_schema', name: 'mood', schema, strict: true}}});
  const v = JSON.parse(js.output_text);
  check(['happy', 'sad'].includes(v.mood) && typeof v.ok === 'boolean' &&
        Object.keys(v).length === 2, 'json_schema output ' + js.output_text);
  check(js.text.format.name === 'mood', 'text echo ' + show(js.text));

  // Refused fields: the SDK's BadRequestError naming them.
  await expectBadRequest('unknown field', 'frobnicate',
    () => c.responses.create({model, input: 'hi', frobnicate: 1}));
  await expectBadRequest('previous_response_id', 'previous_response_id',
    () => c.responses.create({model, input: 'hi', previous_response_id: r.id}));
  await expectBadRequest('built-in tool', 'tools[0].type',
    () => c.responses.create({model, input: 'hi', tools: [{type: 'web_search'}]}));
  await expectBadRequest('image input', 'input[0].content[0].type',
    () => c.responses.create({model, input: [{role: 'user', content: [
      {type: 'input_image', image_url: 'https://example.com/x.png', detail: 'auto'}]}]}));
}

async function reasoning() {
  const c = client();
  // Without reasoning.summary: the think block is reasoning_text content.
  const req = {input: 'Once upon a time', max_output_tokens: 12, temperature: 0,
               ignore_eos: true, reasoning: {effort: 'medium'}};
  const r = await c.responses.create(req);
  check(r.output.length >= 1 && r.output[0].type === 'reasoning', 'output ' + show(r.output));
  const rs = r.output[0];
  check(rs.content?.[0]?.type === 'reasoning_text' && rs.content[0].text.length > 0,
        'reasoning ' + show(rs));
  check(rs.summary.length === 0, 'summary without asking ' + show(rs));
  check(r.usage.output_tokens_details.reasoning_tokens > 0, 'usage ' + show(r.usage));
  const s = await streamed(c, req);
  check(s.types.includes('response.reasoning_text.delta'), 'events ' + show(s.types));
  check(!s.types.some((t) => t.includes('summary')), 'summary events ' + show(s.types));
  check(s.final.output[0].content[0].text === rs.content[0].text,
        `streamed ${show(s.final.output[0])} != ${show(rs)}`);
  const thought = rs.content[0].text;

  // With reasoning.summary: the same text as the item's summary_text part, streamed with
  // OpenAI's reasoning_summary_* events in their order (the SDK's accumulator builds the
  // summary from them).
  const sreq = {...req, reasoning: {effort: 'medium', summary: 'auto'}};
  const u = await c.responses.create(sreq);
  const us = u.output[0];
  check(us.type === 'reasoning' && us.summary.length === 1 && us.summary[0].type ===
        'summary_text' && us.summary[0].text === thought, 'summary ' + show(us));
  check(us.content === undefined, 'content next to the summary ' + show(us));
  check(u.reasoning.summary === 'auto', 'echo ' + show(u.reasoning));
  const stream = c.responses.stream(sreq);
  let deltas = '';
  let done = null;
  stream.on('response.reasoning_summary_text.delta', (e) => { deltas += e.delta; });
  stream.on('response.reasoning_summary_part.done', (e) => { done = e; });
  const types = [];
  for await (const ev of stream) {
    if (!(types[types.length - 1] === ev.type && ev.type.endsWith('.delta'))) types.push(ev.type);
  }
  const want = ['response.created', 'response.in_progress', 'response.output_item.added',
                'response.reasoning_summary_part.added', 'response.reasoning_summary_text.delta',
                'response.reasoning_summary_text.done', 'response.reasoning_summary_part.done',
                'response.output_item.done'];
  check(show(types.slice(0, want.length)) === show(want), 'summary events ' + show(types));
  check(deltas === thought, `summary deltas ${show(deltas)} != ${show(thought)}`);
  check(done?.part?.text === thought && done.summary_index === 0, 'part.done ' + show(done));
  const fin = await stream.finalResponse();
  check(show(fin.output[0].summary) === show(us.summary),
        `streamed summary ${show(fin.output[0])} != ${show(us)}`);
}

try {
  if (mode === 'main') await main();
  else if (mode === 'reasoning') await reasoning();
  else fail('mode ' + mode);
} catch (e) {
  fail(e?.stack ?? e);
}
console.log(`openai@${version} responses ${mode}: ok`);
