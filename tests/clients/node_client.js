// Calls Generate and GenerateStream with @grpc/grpc-js + @grpc/proto-loader (pinned in
// run.sh) against a running Phalanx server. Exits non-zero on any mismatch.
const path = require('path');
const [target, protoRoot, modules] = process.argv.slice(2);
const grpc = require(path.join(modules, '@grpc/grpc-js'));
const loader = require(path.join(modules, '@grpc/proto-loader'));

const def = loader.loadSync('phalanx/v1/generate.proto', {
  includeDirs: [protoRoot], keepCase: true, longs: String, enums: String, defaults: true,
  oneofs: true,
});
const v1 = grpc.loadPackageDefinition(def).phalanx.v1;
const client = new v1.Generation(target, grpc.credentials.createInsecure());
const req = {text: 'Once upon a time', max_tokens: 24, ignore_eos: true,
             sampling: {temperature: 0}};
const deadline = () => new Date(Date.now() + 60000);

function fail(msg) { console.error('node client FAILED:', msg); process.exit(1); }

client.Generate(req, {deadline: deadline()}, (err, unary) => {
  if (err) fail(err);
  if (unary.usage.completion_tokens !== 24) fail('completion tokens ' + unary.usage.completion_tokens);
  if (unary.finish_reason !== 'FINISH_REASON_LENGTH') fail('finish ' + unary.finish_reason);
  let text = '';
  let last = null;
  const call = client.GenerateStream(req, {deadline: deadline()});
  call.on('data', (m) => { text += m.text; last = m; });
  call.on('error', (e) => fail(e));
  call.on('end', () => {
    if (text !== unary.text) fail(`stream ${JSON.stringify(text)} != unary ${JSON.stringify(unary.text)}`);
    if (last.finish_reason !== 'FINISH_REASON_LENGTH') fail('stream finish ' + last.finish_reason);
    client.Generate({text: 'hi', sampling: {top_p: 2}}, {deadline: deadline()}, (e2) => {
      if (!e2 || e2.code !== grpc.status.INVALID_ARGUMENT || !e2.details.includes('top_p')) {
        fail('invalid request not rejected: ' + e2);
      }
      console.log('node client OK:', JSON.stringify(unary.text.slice(0, 60)));
      process.exit(0);
    });
  });
});
