'use strict';
// The aws-lambda-ric v4 branch (used on Node >= 24). This machine runs an older Node, so the
// branch is forced with FERRIC_NODE_COMPAT=v4; on Node >= 24 it is the default.

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const { withWorker, FIXTURES, TEXT_LINE, delay } = require('./harness');

const V4 = { FERRIC_NODE_COMPAT: 'v4' };
const INIT = path.join(FIXTURES, 'init');
const NODEJS24_MESSAGE =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
const NODEJS22_MESSAGE =
  'ERROR: AWS Lambda does not support callback-based function handlers when using Node.js 22 with Managed Instances. To use Managed Instances, modify this function to use a supported handler signature. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

async function v4(handler, options, fn) {
  return withWorker({ handler, ...options, env: { ...V4, ...(options && options.env) } }, fn);
}

test('v4: ready, no "Executing" line, async handler, sync return value is the answer', async () => {
  await v4('index.echo', {}, async (w) => {
    const r = await w.ready();
    assert.equal(r.header.compat, 'aws-lambda-ric v4');
    assert.deepEqual((await w.invoke({ a: 1 })).json, { a: 1 });
    await w.settle();
    assert.doesNotMatch(w.logText, /Executing/);
  });
  await v4('index.syncReturn', {}, async (w) => {
    await w.ready();
    assert.deepEqual((await w.invoke({})).json, { ignored: true });
  });
});

test('v4: ESM, "type": "module", .cjs, nested path and module.default all load through import()', async () => {
  const cases = [
    ['esm.handler', {}, (j) => assert.equal(j.esm, true)],
    ['index.handler', { cwd: path.join(FIXTURES, 'typemodule') }, (j) => assert.equal(j.typeModule, true)],
    ['handlers.handler', {}, (j) => assert.equal(j, 'from .cjs')],
    ['index.deep.nested.handler', {}, (j) => assert.equal(j, 'deep nested handler')],
    ['defaultonly.handler', {}, (j) => assert.equal(j, 'from module.default')],
    ['lib/nested/deep.handler', {}, (j) => assert.deepEqual(j, { file: 'lib/nested/deep.js' })],
  ];
  for (const [h, o, check] of cases) {
    await v4(h, o, async (w) => {
      await w.ready();
      const f = await w.invoke({});
      assert.equal(f.header.type, 'result', `${h}: ${f.body}`);
      check(f.json);
    });
  }
});

test('v4: callback handlers are rejected at init (Runtime.CallbackHandlerDeprecated), exit 1', async () => {
  for (const [env, message] of [
    [{}, NODEJS24_MESSAGE],
    [{ AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x' }, NODEJS22_MESSAGE],
  ]) {
    await v4('index.cbWait', { env }, async (w) => {
      const f = await w.frame();
      assert.equal(f.header.type, 'init_error');
      assert.equal(f.header.error_type, 'Runtime.CallbackHandlerDeprecated');
      assert.deepEqual(Object.keys(f.json), ['errorType', 'errorMessage', 'trace']);
      assert.equal(f.json.errorMessage, message);
      assert.equal(f.json.trace[0], `Runtime.CallbackHandlerDeprecated: ${message}`);
      assert.equal((await w.exit()).code, 1);
      const line = w.logLines().find((l) => l.includes('Init Error'));
      const m = TEXT_LINE.exec(line);
      assert.equal(m[2], '-', 'v4 uses "-" before the first invoke');
      assert.ok(m[4].startsWith('Init Error \t{"errorType":"Runtime.CallbackHandlerDeprecated"'));
    });
  }
});

test('v4: init errors keep the syntax error stack and exit 1', async () => {
  await v4('nope.handler', {}, async (w) => {
    const f = await w.frame();
    assert.equal(f.json.errorType, 'Runtime.ImportModuleError');
    assert.equal(f.json.errorMessage, "Error: Cannot find module 'nope'\nRequire stack:\n- /var/runtime/index.mjs");
    assert.equal((await w.exit()).code, 1);
  });
  await v4('notfunc.handler', { cwd: INIT }, async (w) => {
    const f = await w.frame();
    assert.equal(f.json.errorType, 'Runtime.HandlerNotFound');
    assert.equal((await w.exit()).code, 1);
  });
});

test('v4: context has xRayTraceId and no callback API', async () => {
  await v4('index.asyncContext', {}, async (w) => {
    await w.ready();
    const f = await w.invoke({}, { trace_id: 'Root=1-abc' });
    assert.deepEqual(f.json.keys, [
      'clientContext',
      'identity',
      'invokedFunctionArn',
      'awsRequestId',
      'tenantId',
      'xRayTraceId',
      'getRemainingTimeInMillis',
      'functionName',
      'functionVersion',
      'memoryLimitInMB',
      'logGroupName',
      'logStreamName',
    ]);
    assert.equal(f.json.xRayTraceId, 'Root=1-abc');
    assert.equal(f.json.waits, '<undefined>');
  });
});

test('v4: a 200 KB client context (header lines up to 1 MiB) is parsed into the context', async () => {
  const clientContext = { client: { installation_id: 'i' }, custom: { blob: 'c'.repeat(200 * 1024) }, env: {} };
  await v4('index.contextData', {}, async (w) => {
    await w.ready();
    const f = await w.invoke({}, { client_context: JSON.stringify(clientContext) });
    assert.equal(f.header.type, 'result', f.body && f.body.slice(0, 300));
    assert.deepEqual(f.json, { clientContext, identity: '<undefined>' });
  });
});

test('v4: error bodies (instanceof Error, String(value))', async () => {
  const expect = {
    asyncThrows: ['TypeError', 'bad type'],
    rejectsString: ['string', 'just a string'],
    rejectsNull: ['object', 'null'],
    rejectsUndefined: ['undefined', 'undefined'],
    errorLike: ['object', '[object Object]'],
    circular: ['Runtime.JSONStringifyError', 'Unable to stringify response body'],
  };
  for (const [h, [type, message]] of Object.entries(expect)) {
    await v4(`index.${h}`, {}, async (w) => {
      await w.ready();
      const f = await w.invoke({});
      assert.equal(f.header.type, 'error', h);
      assert.deepEqual(Object.keys(f.json), ['errorType', 'errorMessage', 'trace']);
      assert.equal(f.json.errorType, type, h);
      assert.equal(f.json.errorMessage, message, h);
    });
  }
});

test('v4: crashes are not reported as invocation errors (no handlers): exit 1, no answer', async () => {
  for (const h of ['uncaughtWhileWaiting', 'unhandled']) {
    await v4(`index.${h}`, {}, async (w) => {
      await w.ready();
      w.sendInvoke({});
      assert.equal((await w.exit()).code, 1, h);
      assert.equal(w.frames.length, 1, h);
    });
  }
  await v4('index.uncaught', {}, async (w) => {
    // a plain function returning undefined is answered (null) before its timer throws
    await w.ready();
    assert.equal((await w.invoke({})).body, 'null');
    assert.equal((await w.exit()).code, 1);
  });
  await v4('index.echo', {}, async (w) => {
    await w.ready();
    w.sendInvoke('not json');
    assert.equal((await w.exit()).code, 1, 'v4 does not survive a non-JSON event');
    assert.equal(w.frames.length, 1);
  });
  await v4('index.echo', { env: { AWS_LAMBDA_FUNCTION_NAME: null } }, async (w) => {
    await w.ready();
    w.sendInvoke({});
    assert.equal((await w.exit()).code, 1);
    assert.match(w.logText, /\[Runtime\.PlatformError\]: Missing required environment variables: AWS_LAMBDA_FUNCTION_NAME/);
  });
});

test('v4: a promise that never settles lets the process end (exit 0, no answer)', async () => {
  await v4('index.asyncNever', {}, async (w) => {
    await w.ready();
    w.sendInvoke({});
    assert.deepEqual(await w.exit(), { code: 0, signal: null });
    assert.equal(w.frames.length, 1);
  });
});

test('v4: log lines carry the request id from the InvokeStore; fatal is filtered like the rest', async () => {
  await v4('index.logs', { env: { AWS_LAMBDA_LOG_LEVEL: 'ERROR' } }, async (w) => {
    await w.ready();
    await w.invoke({}, { id: 'v4-id' });
    await w.waitLog(/raw stderr/);
    await delay(50);
    const levels = w.logLines().map((l) => TEXT_LINE.exec(l)).filter(Boolean).map((m) => [m[2], m[3]]);
    assert.deepEqual(levels, [
      ['v4-id', 'ERROR'],
      ['v4-id', 'FATAL'],
    ]);
  });
  await v4('index.globals', {}, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assert.deepEqual(f.json.keys, ['streamifyResponse', 'HttpResponseStream', 'InvokeStore']);
  });
});
