'use strict';
// Invocations: results, callback semantics, errors, crashes, context (aws-lambda-ric v3).

const test = require('node:test');
const assert = require('node:assert/strict');
const { createHash } = require('crypto');
const { withWorker, delay, TEXT_LINE } = require('./harness');

// Runs one handler of fixtures/app/index.js for each event and returns the answer frames.
async function run(handler, events, options) {
  return withWorker({ handler: `index.${handler}`, ...options }, async (w) => {
    await w.ready();
    const answers = [];
    for (const e of events) answers.push(await w.invoke(e.event === undefined ? {} : e.event, e.opts));
    return { answers, w };
  });
}
async function one(handler, event, opts, options) {
  const { answers, w } = await run(handler, [{ event, opts }], options);
  return Object.assign(answers[0], { w });
}
function assertResult(f, value) {
  assert.equal(f.header.type, 'result', `${f.line} ${f.body}`);
  assert.equal(f.header.content_type, 'application/json');
  assert.equal(f.header.len, Buffer.byteLength(f.body));
  assert.deepEqual(f.json, value);
}
function assertError(f, errorType, errorMessage, traceCheck) {
  assert.equal(f.header.type, 'error', `${f.line} ${f.body}`);
  assert.equal(f.header.error_type, String(errorType));
  assert.equal(f.body, JSON.stringify(f.json), 'compact JSON');
  assert.equal(f.json.errorType, errorType);
  assert.equal(f.json.errorMessage, errorMessage);
  if (traceCheck === null) {
    assert.deepEqual(Object.keys(f.json), ['errorType', 'errorMessage']);
  } else {
    assert.deepEqual(Object.keys(f.json), ['errorType', 'errorMessage', 'trace']);
    if (Array.isArray(traceCheck)) assert.deepEqual(f.json.trace.slice(0, traceCheck.length), traceCheck);
  }
}

// ---- results ------------------------------------------------------------------------------

test('async handler result, id echoed, several invocations in a row', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    for (let i = 0; i < 30; i++) {
      const f = await w.invoke({ i, s: 'x'.repeat(i) }, { id: `id-${i}` });
      assert.equal(f.header.id, `id-${i}`);
      assertResult(f, { i, s: 'x'.repeat(i) });
    }
  });
});

test('undefined result -> null', async () => {
  const f = await one('undef');
  assert.equal(f.body, 'null');
});

test('promise-returning (non-async) handler', async () => {
  assertResult(await one('promise', { p: 1 }), { promised: { p: 1 } });
});

test('v3: a synchronous return value is ignored (answer null once the loop drains)', async () => {
  assert.equal((await one('syncReturn')).body, 'null');
});

test('v3: callback handler that never calls back -> null', async () => {
  assert.equal((await one('syncNever')).body, 'null');
});

test('async handler whose promise never settles -> Runtime.NodeJsExit when the loop drains', async () => {
  const f = await one('asyncNever');
  assertError(
    f,
    'Runtime.NodeJsExit',
    'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    ['Runtime.NodeJsExit: The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes'],
  );
  assert.match(f.w.logText, /\tERROR\tInvoke Error \t\{"errorType":"Runtime.NodeJsExit"/);
});

test('the worker keeps serving after NodeJsExit / null answers', async () => {
  const { answers } = await run('asyncNever', [{}, {}, {}]);
  for (const f of answers) assert.equal(f.json.errorType, 'Runtime.NodeJsExit');
});

test('unserialisable result -> Error "Unable to stringify response body"', async () => {
  for (const h of ['circular', 'bigint']) {
    const f = await one(h);
    assertError(f, 'Error', 'Unable to stringify response body', ['Error: Unable to stringify response body']);
    assert.match(f.w.logText, /\tInvoke Error \t\{"errorType":"Error","errorMessage":"Unable to stringify response body"/);
  }
});

test('unicode result is UTF-8 and len counts bytes', async () => {
  const f = await one('unicode');
  assertResult(f, { text: 'héllo ☃ \u2028 𝄞', nul: '\u0000' });
  assert.ok(f.header.len > f.body.length);
});

test('5 MB event (by length, not by line) and 5 MB result', async () => {
  const big = { blob: 'a'.repeat(5 * 1024 * 1024), n: [1, 2, 3] };
  const text = JSON.stringify(big);
  await withWorker({ handler: 'index.digest' }, async (w) => {
    await w.ready();
    const f = await w.invoke(text);
    assertResult(f, { keys: 2, sha256: createHash('sha256').update(text).digest('hex') });
  });
  await withWorker({ handler: 'index.bigResult' }, async (w) => {
    await w.ready();
    const f = await w.invoke({ size: 5 * 1024 * 1024 });
    assert.equal(f.header.type, 'result');
    assert.equal(f.header.len, 5 * 1024 * 1024 + 2);
    assert.equal(f.json.length, 5 * 1024 * 1024);
  });
});

test('pretty-printed event with newlines (and a trailing newline inside the payload)', async () => {
  const event = { a: { b: [1, 2, { c: 'd\ne' }] }, s: 'line1\nline2' };
  const payload = JSON.stringify(event, null, 2) + '\n';
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    assertResult(await w.invoke(payload), event);
    assertResult(await w.invoke('\n\n  {"x":\n1}\n\n'), { x: 1 });
  });
});

test('a frame delivered one byte at a time', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    const payload = Buffer.from('{"slow":true}');
    const header = JSON.stringify({ type: 'invoke', id: 'trickle', deadline_ms: Date.now() + 10000, arn: 'a', len: payload.length });
    const bytes = Buffer.concat([Buffer.from(header + '\n'), payload, Buffer.from('\n')]);
    for (const b of bytes) {
      w.sendRaw(Buffer.from([b]));
      await delay(1);
    }
    const f = await w.frame();
    assert.equal(f.header.id, 'trickle');
    assertResult(f, { slow: true });
  });
});

test('non-JSON event -> SyntaxError invocation error (v3), worker survives', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    const f = await w.invoke('hello');
    assertError(f, 'SyntaxError', `Unexpected token 'h', "hello" is not valid JSON`, [
      `SyntaxError: Unexpected token 'h', "hello" is not valid JSON`,
      '    at JSON.parse (<anonymous>)',
    ]);
    const empty = await w.invoke('');
    assertError(empty, 'SyntaxError', 'Unexpected end of JSON input');
    assertResult(await w.invoke({ ok: 1 }), { ok: 1 });
  });
});

// ---- callback semantics -------------------------------------------------------------------

test('callbackWaitsForEmptyEventLoop = true (default): answer only after the pending timer ran', async () => {
  const t0 = Date.now();
  const f = await one('cbWait');
  assertResult(f, { fired: true, waits: true });
  assert.ok(Date.now() - t0 >= 300);
});

test('callbackWaitsForEmptyEventLoop = false: answer immediately, timer still pending', async () => {
  const { answers } = await run('cbNoWait', [{}, {}]);
  for (const f of answers) assertResult(f, { fired: false, waits: false });
});

test('callback called later from a timer', async () => {
  assertResult(await one('cbLater'), 'called back later');
});

test('callback(null) -> null; callback(err) -> error', async () => {
  assert.equal((await one('cbNullResult')).body, 'null');
  assertError(await one('cbError'), 'Error', 'cb err', ['Error: cb err']);
  assertError(await one('cbString'), 'string', 'cb string error', []);
  assertError(await one('cbZero'), 'number', '0', []);
});

test('context.done / succeed / fail', async () => {
  assertResult(await one('doneOk'), { via: 'done' });
  assertError(await one('doneErr'), 'Error', 'done failed', ['Error: done failed']);
  assertResult(await one('succeed'), 'yes');
  assertError(await one('fail'), 'TypeError', 'failed via fail', ['TypeError: failed via fail']);
  assertError(await one('failNoArg'), 'string', 'handled', []);
});

test('first completion wins; later ones are ignored (no extra frames)', async () => {
  const { answers, w } = await run('firstWins', [{}, {}]);
  for (const f of answers) assertResult(f, 'first');
  assertResult((await one('firstWinsDeferred')), 'first (deferred)');
  assertResult(await one('succeedThenReturn'), 'from succeed');
  await delay(100);
  assert.equal(w.frames.length, 3, 'ready + 2 answers');
});

test('async handler: the returned value wins over a later callback', async () => {
  const { answers, w } = await run('returnThenLateCallback', [{}, {}]);
  for (const f of answers) assertResult(f, 'returned');
  await delay(100);
  assert.equal(w.frames.length, 3);
  assert.doesNotMatch(w.logText, /Invoke Error/);
});

test('a late callback error after the answer: no second frame, next invocation fine', async () => {
  await withWorker({ handler: 'index.lateErrorAfterAnswer' }, async (w) => {
    await w.ready();
    assertResult(await w.invoke({}), 'answered');
    await delay(100);
    assert.equal(w.frames.length, 2);
    assertResult(await w.invoke({}), 'answered');
  });
});

// ---- errors -------------------------------------------------------------------------------

test('thrown and rejected values -> aws-lambda-ric error bodies', async () => {
  const sync = await one('throwsSync');
  assertError(sync, 'Error', 'boom', ['Error: boom']);
  assert.match(sync.json.trace[1], /^ {4}at exports\.throwsSync \[as handler\] \(.*\/fixtures\/app\/index\.js:\d+:\d+\)$/, 'user frame named like aws-lambda-ric names it');
  assertError(await one('asyncThrows'), 'TypeError', 'bad type', ['TypeError: bad type']);
  assertError(await one('rejectsString'), 'string', 'just a string', []);
  assertError(await one('rejectsNumber'), 'number', '42', []);
  assertError(await one('rejectsObject'), 'object', '[object Object]', []);
  assertError(await one('rejectsNull'), 'string', 'handled', []);
  assertError(await one('rejectsUndefined'), 'string', 'handled', []);
  assertError(await one('errorLike'), 'Fake', 'not a real error', ['Fake: not a real error', '    at somewhere (/x.js:1:1)']);
  // logging the value (new Error(value)) throws first; that error is what gets reported
  assertError(await one('badToString'), 'Error', 'no string for you', ['Error: no string for you']);
  assertError(
    await one('stackNotString'),
    'handled',
    'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    null,
  );
  assertError(await one('multilineMessage'), 'Error', 'line one\nline two', ['Error: line one', 'line two']);
});

test('DEL characters are escaped as %7F in the error body', async () => {
  const f = await one('customError');
  assertError(f, 'MyCustom%7FError', 'with%7Fdel');
  assert.equal(f.json.trace[0], 'MyCustom%7FError: with%7Fdel');
  assert.ok(!f.body.includes('\x7F'));
});

test('"Invoke Error" log line, TEXT format, with enumerable properties and code', async () => {
  const f = await one('customError', {}, { id: 'log-req-1' });
  const line = f.w.logLines().find((l) => l.includes('Invoke Error'));
  const m = TEXT_LINE.exec(line);
  assert.equal(m[2], 'log-req-1');
  assert.equal(m[3], 'ERROR');
  assert.ok(m[4].startsWith('Invoke Error \t{'), m[4]);
  const j = JSON.parse(m[4].slice('Invoke Error \t'.length));
  // own enumerable properties (here `name`, `code`, `extra`) are merged in after the three fixed keys
  assert.deepEqual(Object.keys(j), ['errorType', 'errorMessage', 'code', 'name', 'extra', 'stack']);
  assert.equal(j.errorType, 'MyCustom\x7FError', 'the log keeps the raw name');
  assert.equal(j.code, 'E_CUSTOM');
  assert.deepEqual(j.extra, { detail: 42 });
  assert.equal(j.stack[0], 'MyCustom\x7FError: with\x7Fdel');
});

test('xray_cause header for invocation errors', async () => {
  const f = await one('throwsSync');
  const cause = JSON.parse(f.header.xray_cause);
  assert.deepEqual(Object.keys(cause), ['working_directory', 'exceptions', 'paths']);
  assert.equal(cause.exceptions[0].type, 'Error');
  assert.equal(cause.exceptions[0].message, 'boom');
  assert.equal(cause.exceptions[0].stack[0].label, 'exports.throwsSync [as handler]');
  assert.match(cause.exceptions[0].stack[0].path, /fixtures\/app\/index\.js$/);
  assert.equal(typeof cause.exceptions[0].stack[0].line, 'number');
  assert.ok(cause.paths.includes(cause.exceptions[0].stack[0].path));
  const s = await one('rejectsString');
  assert.deepEqual(JSON.parse(s.header.xray_cause).exceptions, [{ stack: [] }]);
});

// ---- crashes during an invocation -----------------------------------------------------------

test('uncaught exception during an invocation -> that invocation\'s error, then exit 129', async () => {
  await withWorker({ handler: 'index.uncaught' }, async (w) => {
    await w.ready();
    const f = await w.invoke({}, { id: 'crash-1' });
    assertError(f, 'RangeError', 'late boom', ['RangeError: late boom']);
    const e = await w.exit();
    assert.equal(e.code, 129);
    assert.equal(w.frames.length, 2);
    assert.match(w.logText, /\tcrash-1\tERROR\tUncaught Exception \t\{"errorType":"RangeError","errorMessage":"late boom"/);
    assert.doesNotMatch(w.logText, /Invoke Error/);
  });
});

test('unhandled rejection during an invocation -> Runtime.UnhandledPromiseRejection, exit 128', async () => {
  await withWorker({ handler: 'index.unhandled' }, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assertError(f, 'Runtime.UnhandledPromiseRejection', 'Error: nobody catches me', [
      'Runtime.UnhandledPromiseRejection: Error: nobody catches me',
    ]);
    assert.equal((await w.exit()).code, 128);
    const line = w.logLines().find((l) => l.includes('Unhandled Promise Rejection'));
    const j = JSON.parse(TEXT_LINE.exec(line)[4].slice('Unhandled Promise Rejection \t'.length));
    assert.deepEqual(Object.keys(j), ['errorType', 'errorMessage', 'reason', 'promise', 'stack']);
    assert.equal(j.reason.errorMessage, 'nobody catches me');
  });
  await withWorker({ handler: 'index.unhandledNonError' }, async (w) => {
    await w.ready();
    assertError(await w.invoke({}), 'Runtime.UnhandledPromiseRejection', 'plain reason');
    assert.equal((await w.exit()).code, 128);
  });
});

test('uncaught exception after the answer: no frame for the finished invocation, exit 129', async () => {
  await withWorker({ handler: 'index.uncaughtAfterAnswer' }, async (w) => {
    await w.ready();
    assertResult(await w.invoke({}), 'ok');
    assert.equal((await w.exit()).code, 129);
    assert.equal(w.frames.length, 2);
    assert.match(w.logText, /Uncaught Exception \t\{"errorType":"Error","errorMessage":"after the answer"/);
  });
});

test('process.exit in a handler: the worker exits with that code and no answer', async () => {
  await withWorker({ handler: 'index.exitsInHandler' }, async (w) => {
    await w.ready();
    w.sendInvoke({});
    assert.equal((await w.exit()).code, 3);
    assert.equal(w.frames.length, 1);
  });
});

// ---- context and environment ----------------------------------------------------------------

test('context fields (v3)', async () => {
  const deadline = Date.now() + 60000;
  const f = await one(
    'context',
    {},
    {
      id: 'ctx-1',
      deadline_ms: deadline,
      arn: 'arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod',
      client_context: '{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{}}',
      cognito_identity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}',
      tenant_id: 'tenant-7',
    },
  );
  const c = f.json;
  assert.deepEqual(c.keys, [
    'callbackWaitsForEmptyEventLoop',
    'succeed',
    'fail',
    'done',
    'functionVersion',
    'functionName',
    'memoryLimitInMB',
    'logGroupName',
    'logStreamName',
    'clientContext',
    'identity',
    'invokedFunctionArn',
    'awsRequestId',
    'tenantId',
    'getRemainingTimeInMillis',
  ]);
  assert.equal(c.awsRequestId, 'ctx-1');
  assert.equal(c.invokedFunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:test-fn:prod');
  assert.equal(c.functionName, 'test-fn');
  assert.equal(c.functionVersion, '$LATEST');
  assert.equal(c.memoryLimitInMB, '512');
  assert.equal(c.types.memoryLimitInMB, 'string');
  assert.equal(c.logGroupName, '/aws/lambda/test-fn');
  assert.equal(c.logStreamName, '2026/01/01/[$LATEST]abcdef');
  assert.deepEqual(c.clientContext, { client: { installation_id: 'i' }, custom: { k: 'v' }, env: {} });
  assert.deepEqual(c.identity, { cognitoIdentityId: 'cid', cognitoIdentityPoolId: 'pool' });
  assert.equal(c.tenantId, 'tenant-7');
  assert.ok(c.remaining > 50000 && c.remaining <= 60000, String(c.remaining));
  assert.equal(c.waits, true);
  assert.deepEqual(c.types, { done: 'function', succeed: 'function', fail: 'function', getRemainingTimeInMillis: 'function', memoryLimitInMB: 'string' });
  assert.equal(c.xRayTraceId, '<undefined>', 'v3 has no xRayTraceId');
  assert.equal(c.json.callbackWaitsForEmptyEventLoop, true);
});

test('context without optional headers; remaining time is not clamped', async () => {
  const f = await one('context', {}, { deadline_ms: Date.now() - 5000 });
  assert.equal(f.json.clientContext, '<undefined>');
  assert.equal(f.json.identity, '<undefined>');
  assert.equal(f.json.tenantId, '<undefined>');
  assert.ok(f.json.remaining <= -5000, String(f.json.remaining));
});

test('missing function environment variables are undefined, not errors (v3)', async () => {
  const f = await one('context', {}, {}, { env: { AWS_LAMBDA_FUNCTION_NAME: null, AWS_LAMBDA_FUNCTION_MEMORY_SIZE: null } });
  assert.equal(f.json.functionName, undefined);
  assert.equal(f.json.memoryLimitInMB, undefined);
});

test('a 200 KB client context and a 100 KB identity (header lines up to 1 MiB): parsed into the context', async () => {
  const clientContext = { client: { installation_id: 'i' }, custom: { blob: 'c'.repeat(200 * 1024) }, env: { platform: 'x' } };
  const identity = { cognitoIdentityId: 'cid', cognitoIdentityPoolId: 'p'.repeat(100 * 1024) };
  await withWorker({ handler: 'index.context' }, async (w) => {
    await w.ready();
    const f = await w.invoke({}, { client_context: JSON.stringify(clientContext), cognito_identity: JSON.stringify(identity) });
    assert.equal(f.header.type, 'result', f.body && f.body.slice(0, 300));
    assert.deepEqual(f.json.clientContext, clientContext);
    assert.deepEqual(f.json.identity, identity);
    assert.equal(f.json.keys.length, 15);
    assert.deepEqual(f.json.json.clientContext, clientContext, 'JSON.stringify(context) carries it too');
    // and the worker goes on normally
    const g = await w.invoke({}, { client_context: '{"small":true}' });
    assert.deepEqual([g.json.clientContext, g.json.identity], [{ small: true }, '<undefined>']);
  });
});

test('bad client context / cognito JSON -> plain Error invocation error', async () => {
  const f = await one('context', {}, { client_context: 'not json' });
  assertError(f, 'Error', `Cannot parse ClientContext as json: SyntaxError: Unexpected token 'o', "not json" is not valid JSON`);
  const g = await one('context', {}, { cognito_identity: '{' });
  assert.equal(g.json.errorType, 'Error');
  assert.match(g.json.errorMessage, /^Cannot parse CognitoIdentity as json: SyntaxError: /);
});

test('_X_AMZN_TRACE_ID is set per invocation and removed when absent', async () => {
  await withWorker({ handler: 'index.traceEnv', env: { _X_AMZN_TRACE_ID: 'stale-from-env' } }, async (w) => {
    await w.ready();
    assertResult(await w.invoke({}, { trace_id: 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1' }), {
      present: true,
      value: 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1',
    });
    assertResult(await w.invoke({}, { trace_id: null }), { present: false, value: null });
    assertResult(await w.invoke({}, { trace_id: 'Root=2' }), { present: true, value: 'Root=2' });
    assertResult(await w.invoke({}, { trace_id: '' }), { present: false, value: null });
  });
});

test('request id is exposed on the aws-lambda-ric global symbol; argv/env are clean', async () => {
  const f = await one('globals', {}, { id: 'sym-1' });
  assert.equal(f.json.requestIdSymbol, 'sym-1');
  assert.deepEqual(f.json.argv, ['index.globals']);
  assert.deepEqual(f.json.execArgv, [], 'the -e source is removed from process.execArgv');
  assert.equal(f.json.protocolFd, null, 'FERRIC_PROTOCOL_FD is consumed');
  const t = await one('globals', {}, {}, { env: { _LAMBDA_TELEMETRY_LOG_FD: '9' } });
  assert.equal(t.json.telemetryFd, null, '_LAMBDA_TELEMETRY_LOG_FD is removed');
});
