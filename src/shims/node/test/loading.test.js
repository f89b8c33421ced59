'use strict';
// Handler resolution and init errors (aws-lambda-ric v3 behaviour, Node <= 22).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ShimWorker, withWorker, FIXTURES, TEXT_LINE } = require('./harness');

const APP = path.join(FIXTURES, 'app');
const INIT = path.join(FIXTURES, 'init');
const REQUIRE_PARENT = '/var/runtime/index.mjs';

async function resultOf(options, event) {
  return withWorker(options, async (w) => {
    await w.ready();
    const f = await w.invoke(event === undefined ? {} : event);
    assert.equal(f.header.type, 'result', `${f.line} ${f.body}\n${w.logText}`);
    assert.equal(f.header.content_type, 'application/json');
    return f.json;
  });
}

// Files that cannot live under test/ (node --test would execute them) are written here.
function tmpTaskRoot(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-node-fixture-'));
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

test('CommonJS .js handler', async () => {
  assert.deepEqual(await resultOf({ handler: 'index.echo' }, { a: 1 }), { a: 1 });
});

test('ESM .mjs handler (import())', async () => {
  assert.deepEqual(await resultOf({ handler: 'esm.handler' }, { b: 2 }), {
    esm: true,
    event: { b: 2 },
    meta: 'string',
  });
});

test('.mjs found when it is the only file', async () => {
  assert.equal(await resultOf({ handler: 'only.handler', cwd: path.join(FIXTURES, 'esm-only') }), 'mjs only');
});

test('"type": "module" package: .js is loaded with import()', async () => {
  assert.deepEqual(await resultOf({ handler: 'index.handler', cwd: path.join(FIXTURES, 'typemodule') }), {
    typeModule: true,
    url: true,
  });
});

test('.cjs handler', async () => {
  assert.equal(await resultOf({ handler: 'handlers.handler' }), 'from .cjs');
});

test('extensionless file is required', async () => {
  assert.equal(await resultOf({ handler: 'noext.handler' }), 'extensionless');
});

test('nested property path after the first dot', async () => {
  assert.equal(await resultOf({ handler: 'index.deep.nested.handler' }), 'deep nested handler');
});

test('directory prefix', async () => {
  assert.deepEqual(await resultOf({ handler: 'lib/nested/deep.handler' }), { file: 'lib/nested/deep.js' });
});

test('absolute directory prefix outside the task root', async () => {
  assert.deepEqual(
    await resultOf({ handler: `${APP}/lib/nested/deep.handler`, cwd: INIT, env: { LAMBDA_TASK_ROOT: INIT } }),
    { file: 'lib/nested/deep.js' },
  );
});

test('module.default fallback (export default { handler })', async () => {
  assert.equal(await resultOf({ handler: 'defaultonly.handler' }), 'from module.default');
  assert.equal(await resultOf({ handler: 'esm.viaDefault' }), 'default export property');
});

test('node_modules package found through require.resolve paths', async () => {
  const root = tmpTaskRoot({
    'node_modules/pkg-handler/package.json': '{"name":"pkg-handler","main":"main.js"}',
    'node_modules/pkg-handler/main.js': "exports.handler = async () => 'from node_modules package';\n",
  });
  try {
    assert.equal(await resultOf({ handler: 'pkg-handler.handler', cwd: root }), 'from node_modules package');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('task root is LAMBDA_TASK_ROOT, not the working directory', async () => {
  assert.equal(
    await resultOf({ handler: 'handlers.handler', cwd: INIT, env: { LAMBDA_TASK_ROOT: APP } }),
    'from .cjs',
  );
});

test('task root falls back to the working directory', async () => {
  assert.equal(await resultOf({ handler: 'handlers.handler', cwd: APP, env: { LAMBDA_TASK_ROOT: null } }), 'from .cjs');
});

test('handler falls back to _HANDLER when argv has none', async () => {
  assert.equal(await resultOf({ handler: null, env: { _HANDLER: 'handlers.handler' } }), 'from .cjs');
});

test('argv handler wins over _HANDLER', async () => {
  assert.equal(await resultOf({ handler: 'handlers.handler', env: { _HANDLER: 'nope.nope' } }), 'from .cjs');
});

test('no handler at all: exits 1 without a frame', async () => {
  await withWorker({ handler: null, env: { _HANDLER: null } }, async (w) => {
    const e = await w.exit();
    assert.equal(e.code, 1);
    assert.equal(w.frames.length, 0);
    assert.match(w.logText, /No handler specified/);
  });
});

test('ESM syntax in a .js file without "type" (this Node detects module syntax)', async () => {
  const root = tmpTaskRoot({ 'esmjs.js': 'export const handler = async () => "detected esm";\n' });
  try {
    assert.equal(await resultOf({ handler: 'esmjs.handler', cwd: root }), 'detected esm');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('a broken package.json is warned about and ignored for ES module detection', async () => {
  // Node itself refuses to load a .js whose package scope has invalid JSON, so the load fails
  // afterwards; what is checked here is aws-lambda-ric's warning while probing "type".
  const root = tmpTaskRoot({
    'package.json': '{ "type": "modul',
    'index.js': 'exports.handler = async () => 1;\n',
  });
  try {
    await withWorker({ handler: 'index.handler', cwd: root }, async (w) => {
      const f = await w.frame();
      assert.equal(f.header.type, 'init_error');
      await w.exit();
      const warn = w.logLines().find((l) => l.includes('cannot be read, it will be ignored'));
      assert.ok(warn, w.logText);
      const m = TEXT_LINE.exec(warn);
      assert.ok(m, warn);
      assert.equal(m[2], 'undefined');
      assert.equal(m[3], 'WARN');
      assert.ok(m[4].startsWith(`${root}/package.json cannot be read, it will be ignored for ES module detection purposes. SyntaxError:`), m[4]);
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

// ----------------------------------------------------------------------------------------
// init errors: the exact /runtime/init/error body, the error type header, the log line and
// the exit code aws-lambda-ric v3 would produce.

async function initError(options) {
  return withWorker(options, async (w) => {
    const f = await w.frame();
    assert.equal(f.header.type, 'init_error', `expected init_error, got ${f.line}\n${w.logText}`);
    assert.equal(typeof f.header.len, 'number');
    const exit = await w.exit();
    assert.equal(w.frames.length, 1, 'exactly one frame');
    return { f, exit, w, body: f.json, lines: w.logLines() };
  });
}

function checkBody(r, { errorType, errorMessage, traceHead, exitCode, frames = true }) {
  const { f, body } = r;
  assert.equal(f.body, JSON.stringify(body), 'compact JSON');
  assert.deepEqual(Object.keys(body), ['errorType', 'errorMessage', 'trace']);
  assert.equal(body.errorType, errorType);
  assert.equal(f.header.error_type, errorType, 'error_type = what aws-lambda-ric sends as the header');
  assert.equal(body.errorMessage, errorMessage);
  assert.deepEqual(body.trace.slice(0, traceHead.length), traceHead);
  if (frames) {
    assert.ok(body.trace.length > traceHead.length, 'stack frames follow');
    for (const l of body.trace.slice(traceHead.length)) assert.match(l, /^ {4}at /);
  } else {
    assert.equal(body.trace.length, traceHead.length);
  }
  assert.equal(r.exit.code, exitCode, `exit code (${JSON.stringify(r.exit)})`);
}

function checkInitLog(r, label, errorType) {
  const { lines } = r;
  assert.match(lines[0], /^Executing '.*' in function directory '.*'$/);
  const line = lines.find((l) => l.includes(`\tERROR\t${label} \t`));
  assert.ok(line, `"${label}" log line in:\n${r.w.logText}`);
  const m = TEXT_LINE.exec(line);
  assert.equal(m[2], 'undefined', 'no request id before the first invoke');
  const json = JSON.parse(m[4].slice(label.length + 2));
  assert.equal(json.errorType, errorType);
  assert.ok(Array.isArray(json.stack));
  return json;
}

test('init error: module not found -> Runtime.ImportModuleError', async () => {
  const r = await initError({ handler: 'nope.handler' });
  const msg = `Error: Cannot find module 'nope'\nRequire stack:\n- ${REQUIRE_PARENT}`;
  checkBody(r, {
    errorType: 'Runtime.ImportModuleError',
    errorMessage: msg,
    traceHead: [`Runtime.ImportModuleError: Error: Cannot find module 'nope'`, 'Require stack:', `- ${REQUIRE_PARENT}`],
    exitCode: 129,
  });
  const logged = checkInitLog(r, 'Uncaught Exception', 'Runtime.ImportModuleError');
  assert.equal(logged.errorMessage, msg);
  assert.equal(logged.code, undefined);
  assert.equal(r.lines[0], `Executing 'nope.handler' in function directory '${APP}'`);
});

test('init error: missing dependency inside the module -> Runtime.ImportModuleError', async () => {
  const r = await initError({ handler: 'missingdep.handler', cwd: INIT });
  const file = path.join(INIT, 'missingdep.js');
  checkBody(r, {
    errorType: 'Runtime.ImportModuleError',
    errorMessage: `Error: Cannot find module 'left-pad-that-does-not-exist'\nRequire stack:\n- ${file}\n- ${REQUIRE_PARENT}`,
    traceHead: [
      `Runtime.ImportModuleError: Error: Cannot find module 'left-pad-that-does-not-exist'`,
      'Require stack:',
      `- ${file}`,
      `- ${REQUIRE_PARENT}`,
    ],
    exitCode: 129,
  });
});

test('init error: CommonJS syntax error -> Runtime.UserCodeSyntaxError', async () => {
  const root = tmpTaskRoot({ 'broken.js': 'exports.handler = async () => {\n' });
  try {
    const r = await initError({ handler: 'broken.handler', cwd: root });
    checkBody(r, {
      errorType: 'Runtime.UserCodeSyntaxError',
      errorMessage: 'SyntaxError: Unexpected end of input',
      traceHead: ['Runtime.UserCodeSyntaxError: SyntaxError: Unexpected end of input'],
      exitCode: 129,
    });
    checkInitLog(r, 'Uncaught Exception', 'Runtime.UserCodeSyntaxError');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('init error: ESM syntax error -> Runtime.UserCodeSyntaxError', async () => {
  const root = tmpTaskRoot({ 'broken.mjs': 'export const handler = ;\n' });
  try {
    const r = await initError({ handler: 'broken.handler', cwd: root });
    checkBody(r, {
      errorType: 'Runtime.UserCodeSyntaxError',
      errorMessage: "SyntaxError: Unexpected token ';'",
      traceHead: ["Runtime.UserCodeSyntaxError: SyntaxError: Unexpected token ';'"],
      exitCode: 129,
    });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('init error: ESM import of a missing package is rethrown as is (code ERR_MODULE_NOT_FOUND)', async () => {
  const root = tmpTaskRoot({ 'esmmissing.mjs': "import x from 'nope-esm-pkg';\nexport const handler = async () => x;\n" });
  try {
    const r = await initError({ handler: 'esmmissing.handler', cwd: root });
    const msg = `Cannot find package 'nope-esm-pkg' imported from ${root}/esmmissing.mjs`;
    checkBody(r, { errorType: 'Error', errorMessage: msg, traceHead: [`Error [ERR_MODULE_NOT_FOUND]: ${msg}`], exitCode: 129 });
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('init error: handler is not a function -> Runtime.HandlerNotFound', async () => {
  const r = await initError({ handler: 'notfunc.handler', cwd: INIT });
  checkBody(r, {
    errorType: 'Runtime.HandlerNotFound',
    errorMessage: 'notfunc.handler is not a function',
    traceHead: ['Runtime.HandlerNotFound: notfunc.handler is not a function'],
    exitCode: 129,
  });
  checkInitLog(r, 'Uncaught Exception', 'Runtime.HandlerNotFound');
});

test('init error: handler missing / falsy / nested path missing -> Runtime.HandlerNotFound', async () => {
  for (const h of ['notfunc.missing', 'notfunc.zero', 'notfunc.obj.inner.fn', 'notfunc.nothing.at.all', 'init/notfunc.']) {
    const cwd = h.startsWith('init/') ? FIXTURES : INIT;
    const r = await initError({ handler: h, cwd });
    checkBody(r, {
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: `${h} is undefined or not exported`,
      traceHead: [`Runtime.HandlerNotFound: ${h} is undefined or not exported`],
      exitCode: 129,
    });
  }
});

test('init error: no dot in the handler -> Runtime.MalformedHandlerName "Bad handler"', async () => {
  for (const h of ['index', 'lib/nested/deep']) {
    const r = await initError({ handler: h });
    checkBody(r, {
      errorType: 'Runtime.MalformedHandlerName',
      errorMessage: 'Bad handler',
      traceHead: ['Runtime.MalformedHandlerName: Bad handler'],
      exitCode: 129,
    });
  }
});

test('init error: ".." in the handler -> Runtime.MalformedHandlerName', async () => {
  for (const h of ['../app/index.echo', 'lib/../index.echo', 'index..echo']) {
    const r = await initError({ handler: h });
    const msg = `'${h}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`;
    checkBody(r, {
      errorType: 'Runtime.MalformedHandlerName',
      errorMessage: msg,
      traceHead: [`Runtime.MalformedHandlerName: ${msg}`],
      exitCode: 129,
    });
  }
});

test('init error: module throws an Error at top level -> its own name', async () => {
  const r = await initError({ handler: 'throws.handler', cwd: INIT });
  checkBody(r, {
    errorType: 'TypeError',
    errorMessage: 'top-level failure',
    traceHead: ['TypeError: top-level failure', `    at Object.<anonymous> (${path.join(INIT, 'throws.js')}:3:7)`],
    exitCode: 129,
  });
  checkInitLog(r, 'Uncaught Exception', 'TypeError');
});

test('init error: module throws a string -> errorType "string", empty trace', async () => {
  const r = await initError({ handler: 'throwstring.handler', cwd: INIT });
  checkBody(r, { errorType: 'string', errorMessage: 'a thrown string', traceHead: [], exitCode: 129, frames: false });
  const logged = checkInitLog(r, 'Uncaught Exception', 'Error');
  assert.equal(logged.errorMessage, 'a thrown string');
});

test('init error: unhandled rejection during module init -> Runtime.UnhandledPromiseRejection, exit 128', async () => {
  const r = await initError({ handler: 'rejects.handler', cwd: INIT });
  checkBody(r, {
    errorType: 'Runtime.UnhandledPromiseRejection',
    errorMessage: 'Error: rejected during init',
    traceHead: ['Runtime.UnhandledPromiseRejection: Error: rejected during init'],
    exitCode: 128,
  });
  const logged = checkInitLog(r, 'Unhandled Promise Rejection', 'Runtime.UnhandledPromiseRejection');
  assert.equal(logged.reason.errorType, 'Error');
  assert.equal(logged.reason.errorMessage, 'rejected during init');
  assert.deepEqual(logged.promise, {});
});

test('init error: unknown streaming mode -> Runtime.MalformedStreamingHandler', async () => {
  const r = await initError({ handler: 'badstreaming.handler', cwd: INIT });
  checkBody(r, {
    errorType: 'Runtime.MalformedStreamingHandler',
    errorMessage: 'Only response streaming is supported.',
    traceHead: ['Runtime.MalformedStreamingHandler: Only response streaming is supported.'],
    exitCode: 129,
  });
});

test('init error log in JSON format', async () => {
  const r = await initError({ handler: 'nope.handler', env: { AWS_LAMBDA_LOG_FORMAT: 'json' } });
  const line = r.lines.find((l) => l.startsWith('{'));
  const j = JSON.parse(line);
  assert.deepEqual(Object.keys(j), ['timestamp', 'level', 'message']);
  assert.equal(j.level, 'ERROR');
  assert.equal(j.message.errorType, 'ImportModuleError', 'constructor name, as aws-lambda-ric logs it');
  assert.equal(j.message.errorMessage, `Error: Cannot find module 'nope'\nRequire stack:\n- ${REQUIRE_PARENT}`);
  assert.ok(Array.isArray(j.message.stackTrace));
  assert.equal(r.body.errorType, 'Runtime.ImportModuleError', 'the posted body does not depend on the log format');
});

test('streaming handlers load (awslambda.streamifyResponse) but invocations fail clearly', async () => {
  await withWorker({ handler: 'streaming.handler', cwd: INIT }, async (w) => {
    await w.ready();
    for (let i = 0; i < 2; i++) {
      const f = await w.invoke({});
      assert.equal(f.header.type, 'error');
      assert.equal(f.json.errorType, 'Runtime.StreamingNotSupported');
      assert.match(f.json.errorMessage, /not supported by ferric/);
      assert.equal(f.header.error_type, 'Runtime.StreamingNotSupported');
    }
    await w.waitLog(/\tERROR\tInvoke Error \t\{"errorType":"Runtime.StreamingNotSupported"/);
  });
});

test('globalThis.awslambda is installed before user code, unless disabled', async () => {
  const on = await resultOf({ handler: 'index.globals' });
  assert.equal(on.awslambda, 'object');
  assert.deepEqual(on.keys, ['streamifyResponse', 'HttpResponseStream']);
  for (const v of ['1', 'true']) {
    const off = await resultOf({ handler: 'index.globals', env: { AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA: v } });
    assert.equal(off.awslambda, 'undefined');
  }
  const stillOn = await resultOf({ handler: 'index.globals', env: { AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA: 'yes' } });
  assert.equal(stillOn.awslambda, 'object');
});

test('a module that logs during init: no request id yet ("undefined")', async () => {
  await withWorker({ handler: 'initlog.handler', cwd: INIT }, async (w) => {
    await w.ready();
    await w.settle();
    const line = w.logLines().find((l) => l.endsWith('logged during init'));
    assert.ok(line, w.logText);
    assert.equal(TEXT_LINE.exec(line)[2], 'undefined');
  });
});

test('callback-style handler: deprecation warning (v3) unless disabled', async () => {
  const warn = /\tundefined\tWARN\tAWS Lambda plans to remove support for callback-based function handlers starting with Node\.js 24\./;
  await withWorker({ handler: 'initlog.callbackStyle', cwd: INIT }, async (w) => {
    await w.ready();
    await w.settle();
    assert.match(w.logText, warn);
  });
  await withWorker({ handler: 'initlog.handler', cwd: INIT }, async (w) => {
    await w.ready();
    await w.settle();
    assert.doesNotMatch(w.logText, warn, 'async handlers are not warned about');
  });
  await withWorker(
    { handler: 'initlog.callbackStyle', cwd: INIT, env: { AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING: '' } },
    async (w) => {
      await w.ready();
      await w.settle();
      assert.doesNotMatch(w.logText, warn);
    },
  );
});

test('ShimWorker fails on a frame-channel violation (the harness can fail)', async () => {
  // sanity check of the harness itself: a fake worker that prints garbage on fd 3
  const w = await ShimWorker.start({ argv: ['-e', "require('fs').writeSync(3, 'not a frame\\n')"] });
  try {
    await assert.rejects(w.frame(3000), /frame channel violation/);
  } finally {
    await w.close();
  }
});
