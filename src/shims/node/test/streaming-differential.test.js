'use strict';
// Response streaming, differential: the handlers of fixtures/streaming/index.js run under
// aws-lambda-ric (4.0.2 for the v4 behaviour, 3.3.0 for v3) and under ferric (the built
// target/debug/ferric with its embedded Node shim, FERRIC_NODE_COMPAT=v4|v3), each against its
// own shared fake Runtime API (the ferric-fake-api binary). What each posts for every invocation
// is compared:
//   * the kind of post (/response or /error) and its status;
//   * headers, names case-insensitive (the fake records them lower-case; repeated headers joined
//     with ", ", so aws-lambda-ric's two Trailer lines equal ferric's one). Ignored, as transport
//     noise: host (each fake listens on its own port), connection (node:http's keep-alive agent;
//     hyper sends none), user-agent (aws-lambda-cpp's AWS_Lambda_Cpp/x on native posts, none on
//     node:http's streamed posts; ferric/x), content-length (present only on buffered posts,
//     computed by each HTTP client), accept (libcurl's "*/*"), date;
//   * body bytes, exactly (error bodies after normalize.js: runtime stack frames cut);
//   * trailers: the error type exactly, the base64 error body decoded and normalised;
//   * the log lines (normalize.js), without ferric's own lines and aws-lambda-cpp's.
// Known, intended differences are asserted explicitly at the end (KNOWN).
//
// Peers: scripts/setup-peers.sh (.cache/node-ric, .cache/node-ric4), or FERRIC_NODE_RIC_DIR /
// FERRIC_NODE_RIC4_DIR. ferric: rebuilt by fakeapi.js when older than src/shims/node.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { FIXTURES, baseEnv } = require('./harness');
const { FakeApi, runRuntime, ferricBinary, REPO } = require('./fakeapi');
const { normalizer } = require('./normalize');

const realpath = (p) => {
  try {
    return fs.realpathSync(p);
  } catch (_) {
    return p;
  }
};
const RIC3_DIR = realpath(process.env.FERRIC_NODE_RIC_DIR || path.join(REPO, '.cache', 'node-ric', 'node_modules', 'aws-lambda-ric'));
const RIC4_DIR = realpath(process.env.FERRIC_NODE_RIC4_DIR || path.join(REPO, '.cache', 'node-ric4', 'node_modules', 'aws-lambda-ric'));
const version = (dir) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  } catch (_) {
    return null;
  }
};
const PEERS = {
  v3: {
    dir: RIC3_DIR,
    version: version(RIC3_DIR),
    bin: path.join(RIC3_DIR, 'bin', 'index.mjs'),
    native: path.join(RIC3_DIR, 'dist', 'rapid-client.node'),
    major: '3',
  },
  v4: {
    dir: RIC4_DIR,
    version: version(RIC4_DIR),
    bin: path.join(RIC4_DIR, 'index.mjs'),
    native: path.join(RIC4_DIR, 'rapid-client.node'),
    major: '4',
  },
};
function skipReason(gen) {
  const p = PEERS[gen];
  if (!fs.existsSync(p.bin)) return `aws-lambda-ric ${p.major}.x is not installed at ${p.dir} (scripts/setup-peers.sh)`;
  if (!fs.existsSync(p.native)) return `aws-lambda-ric at ${p.dir} has no native client (its install scripts did not run)`;
  if (!String(p.version).startsWith(`${p.major}.`)) return `aws-lambda-ric at ${p.dir} is ${p.version}, not ${p.major}.x`;
  return false;
}

const ROOT = path.join(FIXTURES, 'streaming');
const ARN = 'arn:aws:lambda:us-east-1:123456789012:function:test-fn';
const IGNORED_HEADERS = new Set(['host', 'connection', 'user-agent', 'content-length', 'accept', 'date']);
const FERRIC_OWN_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z +(TRACE|DEBUG|INFO|WARN|ERROR) /;
const CPP_LINE = /^\[(ERROR|WARN|INFO|DEBUG|TRACE)\] \[\d+\] LAMBDA_RUNTIME /;

const norm = normalizer({ runtimeDirs: [RIC3_DIR, RIC4_DIR], requireParents: [] });

function invokes(c) {
  return (c.events || [{}]).map((e, i) => ({
    request_id: `req-${i + 1}`,
    ...(typeof e === 'string' ? { body: e } : { body: JSON.stringify(e) }),
  }));
}

async function withFake(c, fn) {
  const fake = await FakeApi.start(['--arn', ARN, '--timeout-ms', String(c.timeoutMs || 10000), '--slack-ms', '1000']);
  try {
    return await fn(fake);
  } finally {
    await fake.close();
  }
}

async function runPeer(gen, c) {
  return withFake(c, async (fake) => {
    if (!c.noNextDelay) {
      // aws-lambda-ric 4.0.2 does not wait for the trailers of a failed stream before its next
      // /next, which RAPID (and the fake) answers with the same invocation again while the stream
      // is still open: the handler then runs twice (KNOWN). Slow /next down so that every case
      // shows one run.
      await fake.control('POST', 'faults', { when: 'next', times: null, fault: { delay_ms: 200 } });
    }
    const env = baseEnv({ LAMBDA_TASK_ROOT: ROOT, _HANDLER: c.handler, ...(c.env || {}) });
    let args = [PEERS[gen].bin];
    // v3 takes the handler from argv. Both use their native client for /next: with
    // AWS_LAMBDA_NODEJS_USE_ALTERNATIVE_CLIENT_1 (differential.test.js) v3's /next would go
    // through the keep-alive agent its streamed POST reuses, so the socket (made for /next)
    // would not have the handler's highWaterMark.
    if (gen === 'v3') args = [PEERS.v3.bin, c.handler];
    return runRuntime({ fake, command: process.execPath, args, cwd: ROOT, env, invokes: invokes(c), settleMs: 3000 });
  });
}

async function runFerric(gen, c) {
  return withFake(c, async (fake) => {
    const env = baseEnv({
      LAMBDA_TASK_ROOT: ROOT,
      FERRIC_NODE: process.execPath,
      FERRIC_NODE_COMPAT: gen,
      ...(c.env || {}),
    });
    return runRuntime({
      fake,
      command: ferricBinary(),
      args: [c.handler],
      cwd: ROOT,
      env,
      invokes: invokes(c),
      settleMs: 3000,
      terminate: true,
    });
  });
}

/** request id -> the accepted post (/response or /error) for it; and every post. */
function posts(run) {
  const all = run.requests.filter((q) => q.kind === 'response' || q.kind === 'error');
  const accepted = new Map();
  for (const q of all) if (q.status === 202 && !accepted.has(q.request_id)) accepted.set(q.request_id, q);
  return { all, accepted };
}

function comparableHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) if (!IGNORED_HEADERS.has(k.toLowerCase())) out[k.toLowerCase()] = v;
  return out;
}

function decodedTrailers(q) {
  if (!q.trailers) return null;
  const out = {};
  for (const [k, v] of Object.entries(q.trailers)) {
    out[k] = k === 'lambda-runtime-function-error-body' ? norm.normalizeBody(Buffer.from(v, 'base64').toString('utf8')) : v;
  }
  return out;
}

/** The post as compared: kind, headers, body, trailers (normalised where stated above). */
function comparable(q) {
  const headers = comparableHeaders(q.headers);
  const xray = headers['lambda-runtime-function-xray-error-cause'];
  const body = q.kind === 'error' ? norm.normalizeBody(q.body.toString('utf8')) : q.body.toString('latin1');
  if (xray !== undefined) headers['lambda-runtime-function-xray-error-cause'] = norm.normalizeXray(xray, q.body.toString('utf8'));
  return { kind: q.kind, headers, body, trailers: decodedTrailers(q) };
}

function logLines(run) {
  const kept = run.logText
    .split('\n')
    .filter((l) => !FERRIC_OWN_LINE.test(l) && !CPP_LINE.test(l))
    .join('\n');
  return norm.normalizeLog(kept);
}

function describe(run) {
  return `\nposts: ${JSON.stringify(posts(run).all.map((q) => ({ id: q.request_id, kind: q.kind, status: q.status, body: q.body && q.body.toString('latin1').slice(0, 300), trailers: q.trailers })))}\nresults: ${JSON.stringify(run.results.map((r) => r.outcome))}\nlog:\n${run.logText}`;
}

async function differential(gen, c) {
  const peer = await runPeer(gen, c);
  const ferric = await runFerric(gen, c);
  const context = () => `\n--- aws-lambda-ric ${PEERS[gen].version}:${describe(peer)}\n--- ferric:${describe(ferric)}`;
  const p = posts(peer);
  const f = posts(ferric);
  for (const { request_id: id } of invokes(c)) {
    const pq = p.accepted.get(id);
    const fq = f.accepted.get(id);
    assert.ok(pq, `${c.handler} ${id}: aws-lambda-ric posted nothing that was accepted${context()}`);
    assert.ok(fq, `${c.handler} ${id}: ferric posted nothing that was accepted${context()}`);
    assert.deepEqual(comparable(fq), comparable(pq), `${c.handler} ${id}${context()}`);
  }
  // one post per invocation from ferric; aws-lambda-ric's extra posts are asserted by the cases
  assert.equal(f.all.length, invokes(c).length, `${c.handler}: ferric's posts${context()}`);
  if (!c.extraPeerPosts) assert.equal(p.all.length, invokes(c).length, `${c.handler}: aws-lambda-ric's posts${context()}`);
  assert.deepEqual(logLines(ferric), logLines(peer), `${c.handler}: log lines${context()}`);
  if (c.check) c.check(peer, ferric);
  return { peer, ferric };
}

const bodyOf = (run, id) => posts(run).accepted.get(id || 'req-1').body;
const trailerError = (q) =>
  q.trailers && {
    type: q.trailers['lambda-runtime-function-error-type'],
    body: JSON.parse(Buffer.from(q.trailers['lambda-runtime-function-error-body'], 'base64').toString('utf8')),
  };

// Every case runs for both generations unless `only` says otherwise.
const CASES = [
  {
    handler: 'index.text',
    events: [{}, {}],
    check: (peer, ferric) => {
      // the pieces reached the platform as they were written, not at the end
      for (const run of [peer, ferric]) {
        const q = posts(run).accepted.get('req-1');
        const at = q.frames.map((fr) => fr.at_us);
        assert.ok(at.length >= 3 && at[at.length - 1] - at[0] >= 250000, JSON.stringify(q.frames));
      }
      assert.equal(bodyOf(ferric).toString('utf8'), 'first line\nsecond line, héllo ✓\nthird line\n');
    },
  },
  { handler: 'index.defaultType', events: [{ n: 1 }] },
  { handler: 'index.types' },
  {
    handler: 'index.http',
    check: (peer, ferric) => {
      const body = bodyOf(ferric);
      const prelude = '{"statusCode":201,"headers":{"x-streamed":"yes","content-type":"text/plain"},"cookies":["a=1","b=2"]}';
      assert.equal(body.subarray(0, prelude.length).toString(), prelude);
      assert.deepEqual([...body.subarray(prelude.length, prelude.length + 8)], [0, 0, 0, 0, 0, 0, 0, 0]);
      assert.equal(body.subarray(prelude.length + 8).toString(), 'chunk 0\nchunk 1\n');
    },
  },
  { handler: 'index.httpNoWrite', check: (peer, ferric) => assert.equal(bodyOf(ferric).length, 0) },
  { handler: 'index.httpEndOnly', check: (peer, ferric) => assert.equal(bodyOf(ferric).toString(), 'only end') },
  {
    handler: 'index.lateContentType',
    check: (peer, ferric) => {
      const e = trailerError(posts(ferric).accepted.get('req-1'));
      assert.equal(e.type, 'Runtime.InvalidStreamingOperation');
      assert.equal(e.body.errorMessage, 'Cannot set content-type, too late.');
    },
  },
  {
    handler: 'index.throwsBefore',
    check: (peer, ferric) => {
      const q = posts(ferric).accepted.get('req-1');
      assert.equal(q.kind, 'response', 'a streaming handler answers on the stream, also before its first write');
      assert.equal(q.body.length, 0);
      assert.equal(trailerError(q).type, 'TypeError');
    },
  },
  { handler: 'index.throwsAfter', check: (peer, ferric) => assert.equal(bodyOf(ferric).toString(), 'partial ') },
  { handler: 'index.rejectsString', check: (peer, ferric) => assert.equal(trailerError(posts(ferric).accepted.get('req-1')).type, 'string') },
  {
    handler: 'index.notAsync',
    check: (peer, ferric) => {
      const e = trailerError(posts(ferric).accepted.get('req-1'));
      assert.equal(e.body.errorMessage, 'Streaming does not support non-async handlers.');
    },
  },
  { handler: 'index.returns', check: (peer, ferric) => assert.ok(ferric.logText.includes('\tWARN\tStreaming handlers ignore return values.')) },
  { handler: 'index.pipeline', check: (peer, ferric) => assert.equal(bodyOf(ferric).toString(), 'abc') },
  { handler: 'index.pipelineLarge', events: [{ mib: 8 }], check: (peer, ferric) => assert.equal(bodyOf(ferric).length, 8 << 20) },
  { handler: 'index.pipelineLargeHwm', events: [{ mib: 4 }], check: (peer, ferric) => assert.equal(bodyOf(ferric).length, 4 << 20) },
  {
    handler: 'index.backpressure',
    check: (peer, ferric) => {
      const tail = bodyOf(ferric).toString().split('|').pop();
      assert.deepEqual(JSON.parse(tail), { big: false, drained: 'drain', hwm: 1024 });
    },
  },
  { handler: 'index.badEvent', only: 'v3', events: ['not json'] },
  { handler: 'index.lateTimer', events: [{}, {}], noNextDelay: true },
  { handler: 'index.logs', events: [{}, {}] },
  { handler: 'index.logs', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
];

for (const gen of ['v4', 'v3']) {
  const skip = skipReason(gen);
  test(`streaming differential (aws-lambda-ric ${PEERS[gen].version || gen}, ${gen})`, { skip }, async (t) => {
    for (const c of CASES) {
      if (c.only && c.only !== gen) continue;
      await t.test(`${c.handler} ${JSON.stringify(c.env || {})}`, async () => {
        await differential(gen, c);
      });
    }
  });
}

// ---- known, intended differences ------------------------------------------------------------

for (const gen of ['v4', 'v3']) {
  const skip = skipReason(gen);
  test(`streaming differential (${gen}): known differences are exactly the documented ones`, { skip }, async (t) => {
    await t.test('a stream never ended: aws-lambda-ric waits for RAPID until the function times out; ferric reports "Response stream is not finished."', async () => {
      const c = { handler: 'index.never', timeoutMs: 1500 };
      const peer = await runPeer(gen, c);
      const ferric = await runFerric(gen, c);
      assert.equal(peer.results[0].outcome, 'timed_out', describe(peer));
      assert.equal(posts(peer).accepted.size, 0, describe(peer));
      const q = posts(ferric).accepted.get('req-1');
      assert.ok(q, describe(ferric));
      assert.equal(q.body.toString(), 'never ended');
      const e = trailerError(q);
      // the error aws-lambda-ric's own code holds for this case: an Error in v4, a string in v3
      assert.equal(e.type, gen === 'v4' ? 'Error' : 'string');
      assert.equal(e.body.errorMessage, 'Response stream is not finished.');
      assert.ok(/\tERROR\tInvoke Error \t\{"errorType":"Error","errorMessage":"Response stream is not finished."/.test(ferric.logText), ferric.logText);
    });

    await t.test('an uncaught exception mid-stream', async () => {
      const c = { handler: 'index.uncaughtMidStream' };
      const peer = await runPeer(gen, c);
      const ferric = await runFerric(gen, c);
      const q = posts(ferric).accepted.get('req-1');
      assert.equal(q.kind, 'response', describe(ferric));
      assert.equal(q.body.toString(), 'u');
      const e = trailerError(q);
      if (gen === 'v3') {
        // aws-lambda-ric 3.3.0 posts the error to /error beside its open stream and exits 129 (its
        // stream is cut: TruncatedHTTPRequest); ferric can only end the stream, with the same error
        const pe = posts(peer).accepted.get('req-1');
        assert.equal(pe.kind, 'error', describe(peer));
        assert.equal(peer.exit, 129);
        assert.equal(e.type, JSON.parse(pe.body.toString()).errorType);
        assert.equal(norm.normalizeBody(JSON.stringify(e.body)), norm.normalizeBody(pe.body.toString()));
        // the worker exits as the peer does; ferric starts its replacement at once (the platform
        // would re-init the sandbox), so the replacement's start line follows the peer's lines
        const fl = logLines(ferric);
        const pl = logLines(peer);
        assert.deepEqual(fl.slice(0, pl.length), pl);
        assert.deepEqual(fl.slice(pl.length), [pl[0]]);
      } else {
        // v4 has no process hooks: the process crashes in both; ferric reports the exit
        assert.equal(peer.exit, 1, describe(peer));
        assert.equal(posts(peer).accepted.size, 0, describe(peer));
        assert.equal(e.type, 'Runtime.ExitError');
        assert.match(e.body.errorMessage, /Runtime exited with error: exit status 1/);
      }
    });

    if (gen === 'v4') {
      await t.test('a non-JSON event: v4 crashes before the stream exists; ferric reports the exit on /error', async () => {
        const c = { handler: 'index.badEvent', events: ['not json'], timeoutMs: 3000 };
        const peer = await runPeer(gen, c);
        const ferric = await runFerric(gen, c);
        assert.equal(peer.exit, 1, describe(peer));
        assert.equal(posts(peer).accepted.size, 0);
        const q = posts(ferric).accepted.get('req-1');
        assert.equal(q.kind, 'error', describe(ferric));
        assert.equal(JSON.parse(q.body.toString()).errorType, 'Runtime.ExitError');
      });
    }
  });
}
