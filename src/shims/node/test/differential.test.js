'use strict';
// Differential check against the real aws-lambda-ric v3 (npm aws-lambda-ric@3). For each
// fixture, aws-lambda-ric runs against the shared fake Runtime API (the ferric-fake-api binary,
// fakeapi.js; built with `cargo build -p ferric-fake-api` if missing) and the shim runs under the
// test harness; the /runtime/init/error and /invocation/{id}/{response,error} bodies, the error
// type header, the X-Ray cause, the exit code and the log lines must match once the parts that
// cannot match are normalised (normalize.js):
//   * stack frames inside the runtime itself (aws-lambda-ric's dist/index.mjs vs the shim's
//     modules, /ferric/node/worker/*.js, and its [eval] boot program): traces are cut at the
//     first runtime frame;
//   * the "Require stack" parent of module-not-found errors (aws-lambda-ric's install path vs
//     /var/runtime/index.mjs);
//   * timestamps and remaining time.
// Known, intended differences are asserted explicitly (see KNOWN below and the README).
//
// Install (once): scripts/setup-peers.sh (.cache/node-ric), or point FERRIC_NODE_RIC_DIR at an
// installed aws-lambda-ric package directory.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ShimWorker, FIXTURES, baseEnv, delay } = require('./harness');
const { FakeApi, runRuntime } = require('./fakeapi');
const { normalizer } = require('./normalize');

// The real path: Node reports aws-lambda-ric's frames and require parent by it, and .cache may
// be a symbolic link (it is in a git worktree sharing the main checkout's peers).
const RIC_DIR = (() => {
  const dir =
    process.env.FERRIC_NODE_RIC_DIR ||
    path.resolve(__dirname, '..', '..', '..', '..', '.cache', 'node-ric', 'node_modules', 'aws-lambda-ric');
  try {
    return fs.realpathSync(dir);
  } catch (_) {
    return dir;
  }
})();
const RIC_BIN = path.join(RIC_DIR, 'bin', 'index.mjs');
const RIC_NATIVE = path.join(RIC_DIR, 'dist', 'rapid-client.node');
const RIC_VERSION = (() => {
  try {
    return JSON.parse(fs.readFileSync(path.join(RIC_DIR, 'package.json'), 'utf8')).version;
  } catch (_) {
    return null;
  }
})();
const SKIP = !fs.existsSync(RIC_BIN)
  ? `aws-lambda-ric is not installed at ${RIC_DIR} (npm_config_nodedir=/usr npm install aws-lambda-ric@3 in .cache/node-ric, or set FERRIC_NODE_RIC_DIR)`
  : !fs.existsSync(RIC_NATIVE)
    ? `aws-lambda-ric at ${RIC_DIR} has no native client (its install scripts did not build dist/rapid-client.node)`
    : !/^3\./.test(RIC_VERSION || '')
      ? `aws-lambda-ric at ${RIC_DIR} is ${RIC_VERSION}, the differential check compares with 3.x`
      : false;

const APP = path.join(FIXTURES, 'app');
const INIT = path.join(FIXTURES, 'init');
const RIC_REQUIRE_PARENT = path.join(RIC_DIR, 'dist', 'index.mjs');
const SHIM_REQUIRE_PARENT = '/var/runtime/index.mjs';

if (SKIP) {
  test('differential check against aws-lambda-ric v3', { skip: SKIP }, () => {});
  return;
}

// ---- running aws-lambda-ric against the fake Runtime API ----------------------------------

const DEFAULT_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:test-fn';

/** The POST /_fake/invoke request for one event of a case (ids req-1, req-2, ...). */
function invokeSpec(id, e) {
  const o = e.opts || {};
  const payload = eventPayload(e.event);
  const spec = { request_id: id };
  if (Buffer.isBuffer(payload)) spec.body_base64 = payload.toString('base64');
  else spec.body = payload;
  for (const k of ['trace_id', 'client_context', 'cognito_identity', 'tenant_id', 'deadline_ms']) {
    if (o[k]) spec[k] = o[k];
  }
  if (o.arn) spec.headers = { 'lambda-runtime-invoked-function-arn': o.arn };
  return spec;
}

async function runRic({ handler, cwd, env, events }) {
  const fake = await FakeApi.start(['--arn', DEFAULT_ARN]);
  try {
    const r = await runRuntime({
      fake,
      command: process.execPath,
      args: [RIC_BIN, handler],
      cwd,
      env: baseEnv({
        ...env,
        LAMBDA_TASK_ROOT: cwd,
        // aws-lambda-ric's native /next (libcurl) crashed in the build sandbox; the alternative
        // client does /next with node:http. Responses and errors still go through the native
        // client, so the posted bytes are aws-lambda-ric's own.
        AWS_LAMBDA_NODEJS_USE_ALTERNATIVE_CLIENT_1: 'true',
      }),
      invokes: events.map((e, i) => invokeSpec(`req-${i + 1}`, e)),
    });
    const posts = r.requests.filter((q) => q.kind === 'response' || q.kind === 'error');
    const entry = (q) => ({ id: q.request_id, kind: q.kind, body: q.body.toString('utf8'), headers: q.headers });
    return {
      initError: r.initError && { body: r.initError.body.toString('utf8'), headers: r.initError.headers },
      answers: posts.filter((q) => q.status === 202).map(entry),
      // RAPID (the fake) refuses a second answer for the same invocation
      rejected: posts.filter((q) => q.status !== 202).map(entry),
      logText: r.logText,
      exit: r.exit,
    };
  } finally {
    await fake.close();
  }
}

function eventPayload(event) {
  if (Buffer.isBuffer(event)) return event;
  if (typeof event === 'string') return event;
  return JSON.stringify(event === undefined ? {} : event);
}

async function runShim({ handler, cwd, env, events }, expectExit) {
  const w = await ShimWorker.start({ handler, cwd, env });
  try {
    const first = await w.frame();
    let initError = null;
    const answers = [];
    if (first.header.type === 'init_error') {
      initError = { body: first.body, errorType: first.header.error_type };
    } else {
      for (let i = 0; i < events.length; i++) {
        const id = `req-${i + 1}`;
        const e = events[i];
        w.sendInvoke(eventPayload(e.event), { ...(e.opts || {}), id });
        let f;
        try {
          f = await w.frame();
        } catch (err) {
          if (w.exitInfo) break; // crashed without an answer
          throw err;
        }
        answers.push({ id: f.header.id, kind: f.header.type === 'result' ? 'response' : 'error', body: f.body, header: f.header });
      }
    }
    await delay(150);
    // when aws-lambda-ric exited on its own, give the shim time to do the same even on a busy
    // machine; otherwise it is expected to be still running and is killed
    const wait = expectExit ? 10000 : 300;
    const exited = w.exitInfo || (await Promise.race([w.exit(wait).catch(() => null), delay(wait)]));
    const logText = w.logText;
    return { initError, answers, logText, exit: exited && exited.signal === null ? exited.code : null, frames: w.frames.length };
  } finally {
    await w.close();
  }
}

// ---- normalisation --------------------------------------------------------------------------

const { normalizeBody, normalizeXray, normalizeLog } = normalizer({
  runtimeDirs: [RIC_DIR],
  requireParents: [[RIC_REQUIRE_PARENT, SHIM_REQUIRE_PARENT]],
});

const CALLBACK_WARNING_RE = /\tWARN\tAWS Lambda plans to remove support for callback-based function handlers/;

// ---- comparison -----------------------------------------------------------------------------

async function compare(c) {
  const spec = { handler: c.handler, cwd: c.cwd || APP, env: c.env || {}, events: c.events || [{}] };
  const ric = await runRic(spec);
  const shim = await runShim(spec, ric.exit !== null);
  const where = `${c.handler}`;
  const context = () => `\n--- aws-lambda-ric log:\n${ric.logText}\n--- shim log:\n${shim.logText}`;

  if (c.known && c.known.initError) {
    c.known.initError(ric, shim);
  } else if (ric.initError || shim.initError) {
    assert.ok(ric.initError && shim.initError, `${where}: init error on one side only${context()}`);
    assert.equal(shim.initError.errorType, ric.initError.headers['lambda-runtime-function-error-type'], `${where}: error type header`);
    assert.equal(normalizeBody(shim.initError.body), normalizeBody(ric.initError.body), `${where}: init error body${context()}`);
  }

  const answers = c.known && c.known.answers ? c.known.answers(ric, shim) : { ric: ric.answers, shim: shim.answers };
  assert.equal(answers.shim.length, answers.ric.length, `${where}: number of answers${context()}`);
  for (let i = 0; i < answers.ric.length; i++) {
    const r = answers.ric[i];
    const s = answers.shim[i];
    assert.equal(s.id, r.id, `${where}: answer id`);
    assert.equal(s.kind, r.kind, `${where}: answer kind for ${r.id}: ${r.body} vs ${s.body}${context()}`);
    if (r.kind === 'error') {
      assert.equal(normalizeBody(s.body), normalizeBody(r.body), `${where}: error body ${r.id}${context()}`);
      assert.equal(
        normalizeXray(s.header.xray_cause || '', s.body),
        normalizeXray(r.headers['lambda-runtime-function-xray-error-cause'] || '', r.body),
        `${where}: X-Ray cause ${r.id}`,
      );
    } else if (c.compareResult) {
      c.compareResult(JSON.parse(r.body), JSON.parse(s.body));
    } else {
      assert.equal(s.body, r.body, `${where}: response body ${r.id}`);
    }
  }
  if (!(c.known && c.known.exit)) assert.equal(shim.exit, ric.exit, `${where}: exit code${context()}`);

  let shimLog = normalizeLog(shim.logText);
  let ricLog = normalizeLog(ric.logText);
  if (c.known && c.known.log) [shimLog, ricLog] = c.known.log(shimLog, ricLog);
  else if (shimLog.some((l) => CALLBACK_WARNING_RE.test(l))) {
    // KNOWN: the callback-handler deprecation warning of the current v3 source (not in 3.3.0)
    shimLog = shimLog.filter((l) => !CALLBACK_WARNING_RE.test(l));
  }
  assert.deepEqual(shimLog, ricLog, `${where}: log lines${context()}`);
  return { ric, shim };
}

function tmpRoot(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-diff-fixture-'));
  for (const [n, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, n), content);
  return dir;
}

// ---- cases ----------------------------------------------------------------------------------

const INIT_CASES = [
  { handler: 'nope.handler' },
  { handler: 'missingdep.handler', cwd: INIT },
  { handler: 'throws.handler', cwd: INIT },
  { handler: 'throwstring.handler', cwd: INIT },
  { handler: 'rejects.handler', cwd: INIT },
  { handler: 'notfunc.handler', cwd: INIT },
  { handler: 'notfunc.zero', cwd: INIT },
  { handler: 'notfunc.obj.inner.fn', cwd: INIT },
  { handler: 'index' },
  { handler: 'lib/nested/deep' },
  { handler: '../app/index.echo' },
  { handler: 'nope.handler', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
  { handler: 'throws.handler', cwd: INIT, env: { AWS_LAMBDA_LOG_FORMAT: 'json' } },
];

test(`differential (aws-lambda-ric ${RIC_VERSION}): init errors`, async (t) => {
  for (const c of INIT_CASES) {
    await t.test(`${c.handler} ${JSON.stringify(c.env || {})}`, async () => {
      const { ric } = await compare(c);
      assert.ok(ric.initError, 'aws-lambda-ric reported an init error');
    });
  }
});

test(`differential (aws-lambda-ric ${RIC_VERSION}): syntax errors and ESM import failures`, async (t) => {
  const root = tmpRoot({
    'broken.js': 'exports.handler = async () => {\n',
    'brokenesm.mjs': 'export const handler = ;\n',
    'esmmissing.mjs': "import x from 'nope-esm-pkg';\nexport const handler = async () => x;\n",
    'esmjs.js': 'export const handler = async (e) => ({ detected: e });\n',
  });
  try {
    for (const h of ['broken.handler', 'brokenesm.handler', 'esmmissing.handler', 'esmjs.handler']) {
      await t.test(h, async () => {
        await compare({ handler: h, cwd: root, events: [{ event: { x: 1 } }] });
      });
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

const INVOKE_CASES = [
  { handler: 'index.echo', events: [{ event: { a: [1, 2, { b: 'c' }] } }, { event: '{\n  "pretty": [\n    1\n  ]\n}\n' }, { event: 'not json' }, { event: '' }] },
  { handler: 'index.undef' },
  { handler: 'index.promise', events: [{ event: { p: 1 } }] },
  { handler: 'index.syncReturn' },
  { handler: 'index.syncNever', events: [{}, {}] },
  { handler: 'index.cbWait' },
  { handler: 'index.cbNoWait', events: [{}, {}] },
  { handler: 'index.cbLater' },
  { handler: 'index.cbError' },
  { handler: 'index.cbString' },
  { handler: 'index.cbZero' },
  { handler: 'index.cbNullResult' },
  { handler: 'index.doneOk' },
  { handler: 'index.doneErr' },
  { handler: 'index.succeed' },
  { handler: 'index.fail' },
  { handler: 'index.failNoArg' },
  { handler: 'index.firstWins', events: [{}, {}] },
  { handler: 'index.waitFlag', events: [{}, {}, {}] },
  { handler: 'index.firstWinsDeferred' },
  { handler: 'index.succeedThenReturn' },
  { handler: 'index.returnThenLateCallback', events: [{}, {}] },
  { handler: 'index.lateErrorAfterAnswer', events: [{}, {}] }, // the late callback is swallowed by both
  { handler: 'index.throwsSync' },
  { handler: 'index.asyncThrows' },
  { handler: 'index.rejectsString' },
  { handler: 'index.rejectsNumber' },
  { handler: 'index.rejectsObject' },
  { handler: 'index.rejectsNull' },
  { handler: 'index.rejectsUndefined' },
  { handler: 'index.customError' },
  { handler: 'index.errorLike' },
  { handler: 'index.badToString' },
  { handler: 'index.stackNotString' },
  { handler: 'index.multilineMessage' },
  { handler: 'index.circular' },
  { handler: 'index.bigint' },
  { handler: 'index.unicode' },
  { handler: 'index.logs', events: [{ opts: { tenant_id: 'tenant-1' } }] },
  { handler: 'index.logs', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' }, events: [{ opts: { tenant_id: 'tenant-1' } }, {}] },
  { handler: 'index.logs', env: { AWS_LAMBDA_LOG_LEVEL: 'WARN' } },
  { handler: 'index.logsMulti' },
  { handler: 'index.logsMulti', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
  { handler: 'index.uncaught', events: [{}, {}] },
  { handler: 'index.uncaughtWhileWaiting' },
  { handler: 'index.unhandled' },
  { handler: 'index.unhandledNonError' },
  { handler: 'index.exitsInHandler' },
  {
    handler: 'index.traceEnv',
    env: { _X_AMZN_TRACE_ID: 'from-env' },
    events: [{ opts: { trace_id: 'Root=1-abc;Sampled=1' } }, {}, { opts: { trace_id: 'Root=2' } }],
  },
  { handler: 'index.globals', compareResult: (r, s) => {
    // argv and execArgv necessarily differ (bin/index.mjs vs -e); the rest must not
    for (const k of ['argv', 'execArgv', 'protocolFd']) {
      delete r[k];
      delete s[k];
    }
    assert.deepEqual(s, r);
  } },
  {
    handler: 'index.context',
    events: [
      {
        opts: {
          arn: 'arn:aws:lambda:us-east-1:123456789012:function:test-fn:alias',
          client_context: '{"client":{"installation_id":"i"},"custom":{"k":"v"},"env":{"platform":"x"}}',
          cognito_identity: '{"cognitoIdentityId":"cid","cognitoIdentityPoolId":"pool"}',
          tenant_id: 'tenant-9',
        },
      },
      {},
      { opts: { client_context: 'not json' } },
      { opts: { cognito_identity: '{' } },
    ],
    compareResult: (r, s) => {
      assert.ok(Math.abs(r.remaining - s.remaining) < 5000);
      delete r.remaining;
      delete s.remaining;
      assert.deepEqual(s, r);
    },
  },
  { handler: 'esm.handler', events: [{ event: { e: 1 } }] },
  { handler: 'handlers.handler' },
  { handler: 'noext.handler' },
  { handler: 'lib/nested/deep.handler' },
  { handler: 'index.deep.nested.handler' },
  { handler: 'index.handler', cwd: path.join(FIXTURES, 'typemodule') },
  { handler: 'only.handler', cwd: path.join(FIXTURES, 'esm-only') },
  { handler: 'initlog.handler', cwd: INIT },
  { handler: 'initlog.callbackStyle', cwd: INIT },
  { handler: 'streaming.handler', cwd: INIT, skipReason: 'streamed responses are compared in streaming-differential.test.js (through ferric)' },
];

test(`differential (aws-lambda-ric ${RIC_VERSION}): invocations`, async (t) => {
  for (const c of INVOKE_CASES) {
    const name = `${c.handler} ${JSON.stringify(c.env || {})}`;
    if (c.skipReason) {
      await t.test(name, { skip: c.skipReason }, () => {});
      continue;
    }
    await t.test(name, async () => {
      await compare(c);
    });
  }
});

// ---- known, intended differences ------------------------------------------------------------

test(`differential (aws-lambda-ric ${RIC_VERSION}): known differences are exactly the documented ones`, async (t) => {
  await t.test('async handler never settles: 3.3.0 answers null, the shim (current v3 source) Runtime.NodeJsExit', async () => {
    await compare({
      handler: 'index.asyncNever',
      known: {
        answers: (ric, shim) => {
          assert.equal(ric.answers[0].kind, 'response');
          assert.equal(ric.answers[0].body, 'null');
          assert.equal(shim.answers[0].kind, 'error');
          assert.equal(JSON.parse(shim.answers[0].body).errorType, 'Runtime.NodeJsExit');
          return { ric: [], shim: [] };
        },
        log: (shimLog, ricLog) => [shimLog.filter((l) => !l.includes('Runtime.NodeJsExit')), ricLog],
      },
    });
  });
  await t.test('unknown streaming mode: 3.3.0 throws a ReferenceError (bug), the shim Runtime.MalformedStreamingHandler', async () => {
    await compare({
      handler: 'badstreaming.handler',
      cwd: INIT,
      known: {
        initError: (ric, shim) => {
          const r = JSON.parse(ric.initError.body);
          assert.equal(r.errorType, 'ReferenceError');
          assert.equal(r.errorMessage, 'MalformedStreamingHandler is not defined');
          assert.equal(JSON.parse(shim.initError.body).errorType, 'Runtime.MalformedStreamingHandler');
        },
        log: (shimLog, ricLog) => {
          assert.equal(shimLog.length, ricLog.length);
          return [ricLog, ricLog];
        },
      },
    });
  });
  await t.test('export default { handler }: 3.3.0 reports HandlerNotFound, the shim falls back to module.default', async () => {
    await compare({
      handler: 'defaultonly.handler',
      known: {
        initError: (ric, shim) => {
          assert.equal(JSON.parse(ric.initError.body).errorType, 'Runtime.HandlerNotFound');
          assert.equal(shim.initError, null);
        },
        answers: (ric, shim) => {
          assert.equal(ric.answers.length, 0);
          assert.equal(shim.answers[0].body, '"from module.default"');
          return { ric: [], shim: [] };
        },
        exit: true,
        log: (shimLog, ricLog) => {
          assert.equal(shimLog[0], ricLog[0], 'Executing line');
          return [ricLog, ricLog];
        },
      },
    });
  });
  await t.test('a second answer for a finished invocation: aws-lambda-ric posts it (RAPID refuses it), the shim sends nothing', async () => {
    // one invocation: the late error happens while the runtime waits for the next event
    const refused = /^\[ERROR\] \[\d+\] LAMBDA_RUNTIME Failed to post handler (success|error) response\. Http response code: 403\.$/;
    for (const handler of ['index.uncaughtAfterAnswer']) {
      const { ric, shim } = await compare({
        handler,
        events: [{}],
        known: {
          // aws-lambda-cpp logs RAPID's refusal of the second post
          log: (shimLog, ricLog) => [shimLog.filter((l) => !CALLBACK_WARNING_RE.test(l)), ricLog.filter((l) => !refused.test(l))],
        },
      });
      assert.equal(ric.rejected.length >= 1, true, `${handler}: aws-lambda-ric posted twice`);
      assert.equal(shim.frames, 1 + shim.answers.length, `${handler}: no extra frame from the shim`);
    }
  });
});
