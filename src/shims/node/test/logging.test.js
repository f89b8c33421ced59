'use strict';
// Console patching like aws-lambda-ric v3 LogPatch.js: TEXT and JSON formats, level filter.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { withWorker, FIXTURES, TEXT_LINE } = require('./harness');

async function logsOf(options, opts) {
  return withWorker({ handler: 'index.logs', ...options }, async (w) => {
    await w.ready();
    const f = await w.invoke({}, { id: 'log-req', ...opts });
    assert.equal(f.json, 'logged');
    await w.waitLog(/raw stderr\n/);
    return w.logLines();
  });
}

function parsed(lines) {
  return lines.map((l) => TEXT_LINE.exec(l)).filter(Boolean);
}

test('TEXT format: <ISO time>\\t<requestId>\\t<LEVEL>\\t<message>, newlines -> \\r', async () => {
  const lines = await logsOf({});
  const p = parsed(lines);
  const by = (msg) => p.find((m) => m[4] === msg || m[4].startsWith(msg));
  for (const m of p) {
    assert.equal(m[2], 'log-req');
    assert.ok(Math.abs(Date.parse(m[1]) - Date.now()) < 60000);
  }
  assert.equal(by('hello world')[3], 'INFO');
  assert.equal(by('{ a: 1 }')[3], 'INFO');
  assert.equal(by('multi\rline')[3], 'WARN');
  const err = by('Error: logged error');
  assert.equal(err[3], 'ERROR');
  assert.match(err[4], /^Error: logged error\r {4}at /, 'stack joined with \\r, one line');
  assert.equal(by('debug line')[3], 'DEBUG');
  assert.equal(by('trace line')[3], 'TRACE');
  assert.equal(by('trace line')[4], 'trace line', 'console.trace prints no stack (as aws-lambda-ric)');
  assert.equal(by('fatal line')[3], 'FATAL');
  assert.equal(by('undefined')[3], 'INFO', 'console.log() logs "undefined"');
  assert.ok(lines.includes('raw stdout'), 'process.stdout.write is not patched');
  assert.ok(lines.includes('raw stderr'));
});

test('the request id stays on later lines and changes per invocation', async () => {
  await withWorker({ handler: 'index.logs' }, async (w) => {
    await w.ready();
    await w.invoke({}, { id: 'first-id' });
    await w.invoke({}, { id: 'second-id' });
    await w.waitLog(/\tsecond-id\tFATAL\tfatal line/);
    const ids = parsed(w.logLines()).map((m) => m[2]);
    assert.deepEqual([...new Set(ids)], ['first-id', 'second-id']);
  });
});

test('JSON format', async () => {
  const lines = await logsOf({ env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } }, { tenant_id: 'tenant-a' });
  const json = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const by = (pred) => json.find(pred);
  const hello = by((j) => j.message === 'hello world');
  assert.deepEqual(Object.keys(hello), ['timestamp', 'level', 'requestId', 'tenantId', 'message']);
  assert.equal(hello.level, 'INFO');
  assert.equal(hello.requestId, 'log-req');
  assert.equal(hello.tenantId, 'tenant-a');
  assert.match(hello.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(by((j) => j.message && j.message.a === 1).message, { a: 1 }, 'a single object stays an object');
  assert.equal(by((j) => j.level === 'WARN').message, 'multi\nline');
  const err = by((j) => j.level === 'ERROR');
  assert.equal(err.message.errorType, 'Error');
  assert.equal(err.message.errorMessage, 'logged error');
  assert.ok(Array.isArray(err.message.stackTrace));
  const undef = by((j) => j.level === 'INFO' && !('message' in j));
  assert.ok(undef, 'console.log() -> no message key');
  assert.ok(lines.includes('raw stdout'));
  for (const l of lines.filter((x) => x.startsWith('{'))) assert.ok(!l.includes('\n'));
});

test('JSON format: several arguments are util.format()ed; an Error among them adds error fields', async () => {
  await withWorker({ handler: 'index.logsMulti', env: { AWS_LAMBDA_LOG_FORMAT: 'json' } }, async (w) => {
    await w.ready();
    assert.equal((await w.invoke({}, { id: 'multi' })).json, 'logged');
    await w.waitLog(/"level":"INFO".*self/);
    const json = w.logLines().filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const [count, first, circ] = json;
    assert.deepEqual(Object.keys(count), ['timestamp', 'level', 'requestId', 'message', 'errorType', 'errorMessage', 'stackTrace']);
    assert.match(count.message, /^count 5 Error: inner\n {4}at /);
    assert.equal(count.errorType, 'Error');
    assert.equal(count.errorMessage, 'inner');
    assert.equal(count.stackTrace[0], 'Error: inner');
    assert.equal(first.errorType, 'TypeError', 'v3 also looks at the first argument');
    assert.equal(first.level, 'ERROR');
    assert.equal(circ.message, '<ref *1> { self: [Circular *1] }');
  });
});

test('JSON format: invocation errors are logged as the error object', async () => {
  await withWorker({ handler: 'index.echo', env: { AWS_LAMBDA_LOG_FORMAT: 'json' } }, async (w) => {
    await w.ready();
    const f = await w.invoke('not json', { id: 'json-err' });
    assert.equal(f.json.errorType, 'SyntaxError');
    await w.settle();
    const line = w.logLines().find((l) => l.includes('"level":"ERROR"'));
    const j = JSON.parse(line);
    assert.deepEqual(Object.keys(j), ['timestamp', 'level', 'requestId', 'message']);
    assert.equal(j.requestId, 'json-err');
    assert.equal(j.message.errorType, 'SyntaxError');
    assert.equal(j.message.errorMessage, `Unexpected token 'o', "not json" is not valid JSON`);
  });
});

test('AWS_LAMBDA_LOG_LEVEL filters console methods (fatal always logs in v3)', async () => {
  const levels = (lines) => parsed(lines).map((m) => m[3]);
  assert.deepEqual(levels(await logsOf({ env: { AWS_LAMBDA_LOG_LEVEL: 'warn' } })), ['WARN', 'ERROR', 'FATAL']);
  assert.deepEqual(levels(await logsOf({ env: { AWS_LAMBDA_LOG_LEVEL: 'FATAL' } })), ['FATAL']);
  assert.deepEqual(
    levels(await logsOf({ env: { AWS_LAMBDA_LOG_LEVEL: 'nonsense' } })),
    ['INFO', 'INFO', 'WARN', 'ERROR', 'DEBUG', 'TRACE', 'FATAL', 'INFO'],
  );
});

test('AWS_LAMBDA_LOG_LEVEL=FATAL also silences the "Invoke Error" line (it is console.error)', async () => {
  await withWorker({ handler: 'index.throwsSync', env: { AWS_LAMBDA_LOG_LEVEL: 'FATAL' } }, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assert.equal(f.header.type, 'error');
    await w.settle();
    assert.doesNotMatch(w.logText, /Invoke Error/);
  });
});

test('"Invoke Error" is logged before the error frame is written', async () => {
  await withWorker({ handler: 'index.throwsSync', channel: 'fifo' }, async (w) => {
    await w.ready();
    await w.invoke({}, { id: 'ordered' });
    // the line was written synchronously before the frame; give the pipe reader a moment
    await w.waitLog(/\tordered\tERROR\tInvoke Error \t/, 2000);
  });
});

test('init-time logs use "undefined" as request id in TEXT format', async () => {
  await withWorker({ handler: 'initlog.handler', cwd: path.join(FIXTURES, 'init') }, async (w) => {
    await w.ready();
    await w.waitLog(/\tundefined\tINFO\tlogged during init\n/);
  });
});
