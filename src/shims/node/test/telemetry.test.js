'use strict';
// The telemetry descriptor (_LAMBDA_TELEMETRY_LOG_FD; RUNTIME_API.md §6.2) and, for v4 on Lambda
// Managed Instances (AWS_LAMBDA_MAX_CONCURRENCY), the log provider socket
// (_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET):
//   * the shim alone (harness): frame types per format and level, lengths, microsecond
//     timestamps, messages, the variable's removal, process.stdout.write staying on fd 1;
//   * differential: aws-lambda-ric 3.3.0 / 4.0.2 and ferric (target/debug/ferric, which passes
//     the descriptor through) against the fake Runtime API, each with a pipe as descriptor 5;
//     the frames are compared after normalising timestamps (each frame's timestamp must equal its
//     message's time, in microseconds) and runtime stack frames (normalize.js); request ids are
//     the same by construction (req-1, ...). The log pipe (fd 1 and 2) is compared too.
//   * LMI: one connection per worker to the provider socket, JSON lines with "\n" -> "\r".

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { withWorker, FIXTURES, baseEnv, delay } = require('./harness');
const { FakeApi, runRuntime, ferricBinary, REPO } = require('./fakeapi');
const { normalizer } = require('./normalize');

const ROOT = path.join(FIXTURES, 'telemetry');
const realpath = (p) => {
  try {
    return fs.realpathSync(p);
  } catch (_) {
    return p;
  }
};
const RIC3_DIR = realpath(process.env.FERRIC_NODE_RIC_DIR || path.join(REPO, '.cache', 'node-ric', 'node_modules', 'aws-lambda-ric'));
const RIC4_DIR = realpath(process.env.FERRIC_NODE_RIC4_DIR || path.join(REPO, '.cache', 'node-ric4', 'node_modules', 'aws-lambda-ric'));
const PEERS = {
  v3: { bin: path.join(RIC3_DIR, 'bin', 'index.mjs'), native: path.join(RIC3_DIR, 'dist', 'rapid-client.node'), dir: RIC3_DIR },
  v4: { bin: path.join(RIC4_DIR, 'index.mjs'), native: path.join(RIC4_DIR, 'rapid-client.node'), dir: RIC4_DIR },
};
const skipReason = (gen) =>
  fs.existsSync(PEERS[gen].bin) && fs.existsSync(PEERS[gen].native)
    ? false
    : `aws-lambda-ric for ${gen} is not installed with its native client at ${PEERS[gen].dir} (scripts/setup-peers.sh)`;
const norm = normalizer({ runtimeDirs: [RIC3_DIR, RIC4_DIR], requireParents: [] });
const FERRIC_OWN_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z +(TRACE|DEBUG|INFO|WARN|ERROR) /;
const CPP_LINE = /^\[(ERROR|WARN|INFO|DEBUG|TRACE)\] \[\d+\] LAMBDA_RUNTIME /;
const TELEMETRY_FD = 5;

// ---- the descriptor: a FIFO, read as it is written -----------------------------------------

function telemetryPipe() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-telemetry-'));
  const p = path.join(dir, 'fd');
  spawnSync('mkfifo', [p]);
  const rfd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(p, fs.constants.O_WRONLY);
  const sock = new net.Socket({ fd: rfd, readable: true, writable: false });
  const pipe = { writeFd, bytes: Buffer.alloc(0) };
  sock.on('data', (d) => (pipe.bytes = Buffer.concat([pipe.bytes, d])));
  pipe.close = async () => {
    try {
      fs.closeSync(writeFd);
    } catch (_) {
      /* closed */
    }
    await delay(100);
    sock.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return pipe;
}

/** Frames: type u32 BE, length u32 BE, timestamp i64 BE (µs), message. Strict. */
function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 16 <= buf.length, `a frame header cut off at ${off}`);
    const type = buf.readUInt32BE(off);
    const len = buf.readInt32BE(off + 4);
    const ts = buf.readBigInt64BE(off + 8);
    assert.ok(off + 16 + len <= buf.length, `a frame cut off at ${off}`);
    frames.push({ type, ts, message: buf.toString('utf8', off + 16, off + 16 + len) });
    off += 16 + len;
  }
  return frames;
}

/** ferric's own records share the descriptor: `<time> LEVEL ferric: ...`, or JSON with logger
 * "ferric". The peers know nothing of them, so comparisons leave them out. */
function isFerricOwn(f) {
  if (/^\S+Z [A-Z]+ ferric: /.test(f.message)) return true;
  try {
    return JSON.parse(f.message).logger === 'ferric';
  } catch (_) {
    return false;
  }
}

/** The frame's timestamp is its message's time, in microseconds; then both are normalised. */
function comparableFrame(f) {
  const text = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t/.exec(f.message);
  const iso = text ? text[1] : JSON.parse(f.message).timestamp;
  assert.equal(f.ts, BigInt(Date.parse(iso)) * 1000n, `timestamp of ${f.message.slice(0, 80)}`);
  return { type: f.type.toString(16), message: norm.normalizeRecord(f.message) };
}

function logLines(text) {
  return norm.normalizeLog(
    text
      .split('\n')
      .filter((l) => !FERRIC_OWN_LINE.test(l) && !CPP_LINE.test(l))
      .join('\n'),
  );
}

// ---- the shim alone -------------------------------------------------------------------------

const TYPES = {
  TEXT: { TRACE: 0xa55a0007, DEBUG: 0xa55a000b, INFO: 0xa55a000f, WARN: 0xa55a0013, ERROR: 0xa55a0017, FATAL: 0xa55a001b },
  JSON: { TRACE: 0xa55a0006, DEBUG: 0xa55a000a, INFO: 0xa55a000e, WARN: 0xa55a0012, ERROR: 0xa55a0016, FATAL: 0xa55a001a },
};

for (const compat of ['v3', 'v4']) {
  for (const format of ['TEXT', 'JSON']) {
    test(`${compat} ${format}: console output goes to _LAMBDA_TELEMETRY_LOG_FD as frames; stdout stays on fd 1; the variable is removed`, async () => {
      const pipe = telemetryPipe();
      try {
        await withWorker(
          {
            handler: 'index.logs',
            cwd: ROOT,
            extraFds: [pipe.writeFd],
            env: { FERRIC_NODE_COMPAT: compat, _LAMBDA_TELEMETRY_LOG_FD: String(TELEMETRY_FD), AWS_LAMBDA_LOG_FORMAT: format },
          },
          async (w) => {
            await w.ready();
            const before = BigInt(Date.now()) * 1000n;
            const f = await w.invoke({}, { id: 'tel-1' });
            assert.deepEqual(f.json, { telemetryFd: null, requestId: 'tel-1' });
            await delay(100);
            const frames = parseFrames(pipe.bytes);
            const levels = ['TRACE', 'DEBUG', 'INFO', 'INFO', 'WARN', 'ERROR', 'FATAL', 'INFO'];
            assert.deepEqual(frames.map((x) => x.type), levels.map((l) => TYPES[format][l]));
            for (const fr of frames) {
              assert.ok(fr.ts >= before - 1000n && fr.ts <= BigInt(Date.now()) * 1000n, 'microseconds since the epoch');
              comparableFrame(fr);
            }
            if (format === 'TEXT') {
              // "\n" kept, one more at the end
              assert.match(frames[2].message, /^\S+\ttel-1\tINFO\tinfo\nwith a second line\n$/);
            } else {
              const j = JSON.parse(frames[2].message);
              assert.equal(j.message, 'info\nwith a second line');
              assert.ok(!frames[2].message.endsWith('\n'));
            }
            // only process.stdout/stderr.write (and v3's start line) reach the log pipe
            const lines = w.logLines().filter((l) => !l.startsWith('Executing '));
            assert.deepEqual(lines, ['raw stdout line', 'raw stderr line']);
          },
        );
      } finally {
        await pipe.close();
      }
    });
  }
}

test('v4 with AWS_LAMBDA_MAX_CONCURRENCY: JSON lines ("\\n" -> "\\r") on one connection to the provider socket', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-lmi-'));
  const sockPath = path.join(dir, 'logs.sock');
  const connections = [];
  const server = net.createServer((c) => {
    const conn = { text: '' };
    connections.push(conn);
    c.on('data', (d) => (conn.text += d.toString('utf8')));
  });
  await new Promise((resolve) => server.listen(sockPath, resolve));
  try {
    await withWorker(
      {
        handler: 'index.logs',
        cwd: ROOT,
        env: {
          FERRIC_NODE_COMPAT: 'v4',
          AWS_LAMBDA_MAX_CONCURRENCY: '4',
          _LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET: sockPath,
          _LAMBDA_TELEMETRY_LOG_FD: '99',
        },
      },
      async (w) => {
        await w.ready();
        const f = await w.invoke({}, { id: 'lmi-1' });
        // not consumed in multi-concurrency mode, as there
        assert.equal(f.json.telemetryFd, '99');
        await delay(100);
        assert.equal(connections.length, 1);
        const lines = connections[0].text.split('\n');
        assert.equal(lines.pop(), '', 'every line ends with \\n');
        assert.equal(lines.length, 8);
        for (const l of lines) {
          assert.ok(!l.includes('\n'));
          const j = JSON.parse(l.replace(/\r/g, '\n'));
          assert.equal(j.requestId, 'lmi-1');
        }
        assert.equal(JSON.parse(lines[2].replace(/\r/g, '\\n')).message, 'info\nwith a second line');
        assert.deepEqual(w.logLines(), ['raw stdout line', 'raw stderr line']);
      },
    );
    // no socket to connect to: the worker does not start (exit 1, as there)
    await withWorker(
      {
        handler: 'index.logs',
        cwd: ROOT,
        env: { FERRIC_NODE_COMPAT: 'v4', AWS_LAMBDA_MAX_CONCURRENCY: '4', _LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET: path.join(dir, 'none.sock') },
      },
      async (w) => {
        const exit = await w.exit();
        assert.equal(exit.code, 1);
        assert.match(w.logText, /\[Runtime\.PlatformError\]: Failed to connect to telemetry socket: connect ENOENT/);
        assert.equal(w.frames.length, 0);
      },
    );
  } finally {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// ---- differential: aws-lambda-ric vs ferric ------------------------------------------------

async function run(who, gen, c) {
  const fake = await FakeApi.start(['--timeout-ms', '10000']);
  const pipe = telemetryPipe();
  try {
    const env = baseEnv({
      LAMBDA_TASK_ROOT: ROOT,
      _HANDLER: c.handler,
      _LAMBDA_TELEMETRY_LOG_FD: String(TELEMETRY_FD),
      ...(c.env || {}),
    });
    let command = process.execPath;
    let args;
    if (who === 'ferric') {
      command = ferricBinary();
      args = [c.handler];
      env.FERRIC_NODE = process.execPath;
      env.FERRIC_NODE_COMPAT = gen;
    } else {
      args = gen === 'v3' ? [PEERS.v3.bin, c.handler] : [PEERS.v4.bin];
    }
    const r = await runRuntime({
      fake,
      command,
      args,
      cwd: ROOT,
      env,
      invokes: [{ request_id: 'req-1', body: '{}' }],
      extraFds: ['ignore', 'ignore', pipe.writeFd],
      terminate: who === 'ferric',
    });
    await pipe.close();
    return { ...r, frames: parseFrames(pipe.bytes) };
  } finally {
    await pipe.close();
    await fake.close();
  }
}

const DIFF_CASES = [
  { handler: 'index.logs' },
  { handler: 'index.logs', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
  { handler: 'index.logs', env: { AWS_LAMBDA_LOG_LEVEL: 'WARN' } },
  { handler: 'index.fails' },
  { handler: 'index.fails', env: { AWS_LAMBDA_LOG_FORMAT: 'JSON' } },
];

for (const gen of ['v4', 'v3']) {
  test(`telemetry differential (${gen}): frames on the telemetry descriptor and the log pipe, aws-lambda-ric vs ferric`, { skip: skipReason(gen) }, async (t) => {
    for (const c of DIFF_CASES) {
      await t.test(`${c.handler} ${JSON.stringify(c.env || {})}`, async () => {
        const peer = await run('peer', gen, c);
        const ferric = await run('ferric', gen, c);
        const show = (frames) => JSON.stringify(frames.map((f) => ({ ...f, ts: String(f.ts) })));
        const context = `\n--- peer frames: ${show(peer.frames)}\n--- ferric frames: ${show(ferric.frames)}\n--- peer log:\n${peer.logText}\n--- ferric log:\n${ferric.logText}`;
        assert.ok(peer.frames.length > 0, `the peer wrote frames${context}`);
        const own = ferric.frames.filter(isFerricOwn);
        assert.ok(own.some((f) => f.message.includes('worker ready')), `ferric's own records${context}`);
        const ferricFrames = ferric.frames.filter((f) => !isFerricOwn(f));
        assert.deepEqual(ferricFrames.map(comparableFrame), peer.frames.map(comparableFrame), `frames${context}`);
        assert.deepEqual(logLines(ferric.logText), logLines(peer.logText), `log pipe${context}`);
        const body = (r) => {
          const q = r.requests.find((x) => (x.kind === 'response' || x.kind === 'error') && x.status === 202);
          return q && { kind: q.kind, body: norm.normalizeBody(q.body.toString('utf8')) };
        };
        assert.deepEqual(body(ferric), body(peer), `answer${context}`);
      });
    }
  });
}

test('telemetry differential (v4, LMI): the provider socket lines, aws-lambda-ric (one worker thread) vs ferric', { skip: skipReason('v4') }, async () => {
  const lines = async (who) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-lmi-'));
    const sockPath = path.join(dir, 'logs.sock');
    const conns = [];
    const server = net.createServer((c) => {
      const conn = { text: '' };
      conns.push(conn);
      c.on('data', (d) => (conn.text += d.toString('utf8')));
    });
    await new Promise((resolve) => server.listen(sockPath, resolve));
    const fake = await FakeApi.start(['--timeout-ms', '10000', '--max-in-flight', '2']);
    try {
      const env = baseEnv({
        LAMBDA_TASK_ROOT: ROOT,
        _HANDLER: 'index.logs',
        AWS_LAMBDA_MAX_CONCURRENCY: '2',
        AWS_LAMBDA_NODEJS_WORKER_COUNT: '1',
        _LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET: sockPath,
      });
      let command = process.execPath;
      let args = [PEERS.v4.bin];
      if (who === 'ferric') {
        command = ferricBinary();
        args = ['index.logs'];
        env.FERRIC_NODE = process.execPath;
        env.FERRIC_NODE_COMPAT = 'v4';
      }
      const r = await runRuntime({
        fake,
        command,
        args,
        cwd: ROOT,
        env,
        invokes: [{ request_id: 'req-1', body: '{}' }],
        terminate: who === 'ferric',
      });
      await delay(100);
      return { r, conns, lines: conns.flatMap((c) => c.text.split('\n').filter(Boolean)) };
    } finally {
      await fake.close();
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const peer = await lines('peer');
  const ferric = await lines('ferric');
  const normalised = (x) => x.lines.map((l) => norm.normalizeRecord(l.replace(/\r/g, '\n')));
  assert.ok(peer.lines.length > 0, `peer lines: ${JSON.stringify(peer)}`);
  assert.deepEqual(normalised(ferric), normalised(peer), `\n${JSON.stringify(peer.lines)}\n${JSON.stringify(ferric.lines)}\n${ferric.r.logText}`);
  assert.ok(ferric.conns.length >= 1, 'one connection per worker');
});
