'use strict';
// Test harness: starts the worker exactly as ferric does (src/shims/README.md)
//   node --input-type=commonjs -e <boot.js> -- <handler>
// with the bundle of worker/*.js on an inherited descriptor (fd 4, FERRIC_SHIM_FD=4; one open
// file shared by every worker, as ferric shares its memfd), fd 0 = frames in, fd 1 + fd 2 = one
// shared log pipe (a FIFO, like ferric's log pipe), fd 3 = frames out, FERRIC_PROTOCOL_FD=3,
// and speaks protocol v1 to it. The frame reader is strict: anything on fd 3 that is not a
// well-formed frame is recorded as a violation and fails the test that reads it.

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

// FERRIC_NODE_SHIM_DIR points the tests at another copy of the shim directory (boot.js and
// worker/), e.g. a mutated one; the option `shimDir` does the same for one worker.
const SHIM_DIR = process.env.FERRIC_NODE_SHIM_DIR || path.resolve(__dirname, '..');
// The name boot.js gives the bundled modules in stack traces (/ferric/node/worker/v3.js, ...).
const SHIM_MODULE_PREFIX = '/ferric/node/worker/';
const BUNDLE_FD = 4;
const FIXTURES = path.join(__dirname, 'fixtures');
const MAX_HEADER = 64 * 1024;
const FRAME_TYPES = ['ready', 'init_error', 'result', 'error', 'stream_start', 'stream_chunk', 'stream_end', 'stream_error'];
const DEFAULT_TIMEOUT = 15000;

// ---- the bundle (src/shims/README.md, "Bundle format") --------------------------------------

/** FNV-1a 64 (offset basis 0xcbf29ce484222325, prime 0x100000001b3) as 16 lowercase hex digits. */
function fnv1a64(bytes) {
  let h = 0xcbf29ce484222325n;
  for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** Every *.js under dir, as [name relative to dir with "/" separators, bytes], sorted by name. */
function bundleFiles(dir) {
  const out = [];
  const walk = (sub) => {
    for (const e of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.js')) out.push([rel, fs.readFileSync(path.join(dir, rel))]);
    }
  };
  walk('');
  return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** The bundle of `files` ([[name, bytes]]): index, empty line, then the files at their offsets. */
function buildBundle(files) {
  // the offsets count from the start of the bundle, so they depend on the index's own length
  let indexLength = 0;
  for (;;) {
    let offset = indexLength;
    let index = 'ferric-bundle 1\n';
    for (const [name, bytes] of files) {
      index += `${offset} ${bytes.length} ${name}\n`;
      offset += bytes.length;
    }
    index += '\n';
    if (Buffer.byteLength(index) === indexLength) {
      if (indexLength > 4096) throw new Error(`bundle index is ${indexLength} bytes (at most 4096)`);
      return Buffer.concat([Buffer.from(index), ...files.map((f) => f[1])]);
    }
    indexLength = Buffer.byteLength(index);
  }
}

// One read-only descriptor per bundle, opened once and shared by every worker started with it
// (like ferric's memfd); the file itself is unlinked at once.
const openBundles = new Map();
function bundleFd(bytes) {
  const key = fnv1a64(bytes);
  let fd = openBundles.get(key);
  if (fd === undefined) {
    const file = path.join(os.tmpdir(), `ferric-node-bundle-${process.pid}-${key}`);
    fs.writeFileSync(file, bytes);
    fd = fs.openSync(file, 'r');
    fs.unlinkSync(file);
    openBundles.set(key, fd);
  }
  return { fd, key };
}

const shims = new Map();
/** { boot, bundle } of a shim directory (boot.js + worker/). */
function shimFrom(dir) {
  let s = shims.get(dir);
  if (!s) {
    s = {
      boot: fs.readFileSync(path.join(dir, 'boot.js'), 'utf8'),
      bundle: buildBundle(bundleFiles(path.join(dir, 'worker'))),
    };
    shims.set(dir, s);
  }
  return s;
}
const BOOT_SOURCE = shimFrom(SHIM_DIR).boot;

// A clean environment: only what a Lambda-like sandbox would have, so the developer's
// environment (AWS_LAMBDA_LOG_FORMAT, NODE_OPTIONS, ...) cannot change results.
function baseEnv(extra) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME || '/tmp',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    AWS_LAMBDA_FUNCTION_NAME: 'test-fn',
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '512',
    AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/test-fn',
    AWS_LAMBDA_LOG_STREAM_NAME: '2026/01/01/[$LATEST]abcdef',
    AWS_REGION: 'us-east-1',
  };
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === undefined || v === null) delete env[k];
    else env[k] = String(v);
  }
  return env;
}

let fifoSeq = 0;
function tmpFifo(dir, name) {
  const p = path.join(dir, `${name}-${process.pid}-${++fifoSeq}`);
  const r = spawnSyncOk('mkfifo', [p]);
  if (!r) throw new Error('mkfifo failed');
  return p;
}

function spawnSyncOk(cmd, args) {
  const res = require('child_process').spawnSync(cmd, args);
  return res.status === 0;
}

// Opens both ends of a FIFO; the reader is non-blocking (libuv stream), the writer's flags are
// chosen by the caller. Returns { readSocket, writeFd, path }.
function fifoPair(dir, name, writeFlags) {
  const p = tmpFifo(dir, name);
  const rfd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wfd = fs.openSync(p, fs.constants.O_WRONLY | (writeFlags || 0));
  const readSocket = new net.Socket({ fd: rfd, readable: true, writable: false });
  return { readSocket, writeFd: wfd, path: p };
}

class ShimWorker {
  /**
   * options:
   *   handler   handler string passed on the command line (or null: none)
   *   cwd       working directory (default: fixtures/app)
   *   env       extra environment (undefined/null values remove a variable)
   *   channel   'socketpair' (default: node's stdio 'pipe', as in the brief),
   *             'fifo' (real pipes for fd 0 and fd 3, like ferric's),
   *             'nonblocking-socket' (fd 3 is a non-blocking socket: exercises EAGAIN)
   *   argv      full argv override (after the node executable)
   *   shimDir   another shim directory (boot.js + worker/) for this worker
   *   bundle    a Buffer to pass as the bundle instead, or false for no bundle descriptor
   *   extraFds  more descriptors for the worker: fd 5, 6, ... in order (e.g. a telemetry pipe)
   */
  constructor(options) {
    this.options = options;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-node-test-'));
    this.logText = '';
    this.frames = [];
    this.violations = [];
    this.waiters = [];
    this.exitInfo = null;
    this.exitWaiters = [];
    this.rawFrameBytes = 0;
    this.startedAt = Date.now();
  }

  static async start(options) {
    const w = new ShimWorker(options);
    await w._spawn();
    return w;
  }

  async _spawn() {
    const o = this.options;
    const cwd = o.cwd || path.join(FIXTURES, 'app');
    const shim = shimFrom(o.shimDir || SHIM_DIR);
    const bundle = o.bundle === false ? null : bundleFd(o.bundle || shim.bundle);
    this.bundleFd = bundle ? bundle.fd : null;
    const shimEnv = bundle
      ? { FERRIC_SHIM_FD: String(BUNDLE_FD), FERRIC_SHIM_KEY: bundle.key, FERRIC_SHIM_CACHE: '', FERRIC_SHIM_PREPARE: '' }
      : {};
    const env = baseEnv({ FERRIC_PROTOCOL_FD: '3', LAMBDA_TASK_ROOT: cwd, ...shimEnv, ...o.env });
    const argv = o.argv || [
      '--input-type=commonjs',
      '-e',
      shim.boot,
      '--',
      ...(o.handler === null ? [] : [o.handler]),
    ];
    const log = fifoPair(this.dir, 'log');
    this.logSocket = log.readSocket;
    this.logSocket.on('data', (d) => {
      this.logText += d.toString('utf8');
      this._wake();
    });
    this.logSocket.on('error', () => {});
    const logEnded = new Promise((resolve) => this.logSocket.on('close', resolve));

    const channel = o.channel || 'socketpair';
    const stdio = ['pipe', log.writeFd, log.writeFd, 'pipe', bundle ? bundle.fd : 'ignore', ...(o.extraFds || [])];
    const toClose = [log.writeFd];
    let frameSource;
    let server;
    if (channel === 'fifo') {
      const frames = fifoPair(this.dir, 'frames');
      const input = tmpFifo(this.dir, 'input');
      const inRead = fs.openSync(input, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const inWrite = fs.openSync(input, fs.constants.O_WRONLY);
      stdio[0] = inRead;
      stdio[3] = frames.writeFd;
      toClose.push(inRead, frames.writeFd);
      this.framesFifoPath = frames.path;
      frameSource = frames.readSocket;
      this.input = fs.createWriteStream(null, { fd: inWrite });
    } else if (channel === 'nonblocking-socket') {
      const sockPath = path.join(this.dir, 'frames.sock');
      server = net.createServer();
      const accepted = new Promise((resolve) => server.once('connection', resolve));
      await new Promise((resolve) => server.listen(sockPath, resolve));
      const client = net.connect(sockPath);
      await new Promise((resolve) => client.once('connect', resolve));
      stdio[3] = client; // the child gets a dup of libuv's non-blocking socket
      frameSource = await accepted;
      this._clientSock = client;
    }
    this.child = spawn(process.execPath, argv, { cwd, env, stdio });
    for (const fd of toClose) fs.closeSync(fd);
    if (this._clientSock) this._clientSock.destroy();
    if (server) server.close();
    if (!this.input) this.input = this.child.stdin;
    this.input.on('error', () => {});
    if (!frameSource) frameSource = this.child.stdio[3];
    this.frameSource = frameSource;
    this._readFrames(frameSource);
    this.child.on('exit', async (code, signal) => {
      await Promise.race([logEnded, delay(2000)]);
      this.exitInfo = { code, signal };
      for (const f of this.exitWaiters) f(this.exitInfo);
      this._wake();
    });
  }

  _readFrames(stream) {
    let buf = Buffer.alloc(0);
    let header = null;
    stream.on('data', (chunk) => {
      this.rawFrameBytes += chunk.length;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      for (;;) {
        if (header === null) {
          const nl = buf.indexOf(10);
          if (nl < 0) {
            if (buf.length > MAX_HEADER) this._violation('header longer than 64 KiB');
            break;
          }
          if (nl > MAX_HEADER) this._violation('header longer than 64 KiB');
          const line = buf.subarray(0, nl).toString('utf8');
          buf = buf.subarray(nl + 1);
          let h;
          try {
            h = JSON.parse(line);
          } catch (e) {
            this._violation(`header is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
            continue;
          }
          if (!h || typeof h !== 'object' || typeof h.type !== 'string') {
            this._violation(`header without type: ${line.slice(0, 200)}`);
            continue;
          }
          if (!FRAME_TYPES.includes(h.type)) {
            this._violation(`unknown frame type ${h.type}`);
          }
          if (h.len === undefined) {
            this._push(h, null, line);
            continue;
          }
          if (!Number.isSafeInteger(h.len) || h.len < 0) this._violation(`bad len ${h.len}`);
          header = { h, line };
        }
        if (buf.length < header.h.len + 1) break;
        const payload = Buffer.from(buf.subarray(0, header.h.len));
        if (buf[header.h.len] !== 10) this._violation('payload not followed by newline');
        buf = buf.subarray(header.h.len + 1);
        this._push(header.h, payload, header.line);
        header = null;
      }
    });
    stream.on('error', () => {});
    stream.on('end', () => {
      if (buf.length || header) this._violation('frame channel closed in the middle of a frame');
      this.frameChannelClosed = true;
      this._wake();
    });
  }

  _violation(msg) {
    this.violations.push(msg);
    this._wake();
  }

  _push(header, payload, line) {
    const frame = { header, payload, line };
    if (payload) {
      frame.body = payload.toString('utf8');
      try {
        frame.json = JSON.parse(frame.body);
      } catch (_) {
        /* not JSON */
      }
    }
    if (header.type === 'ready') this.readyAt = Date.now();
    this.frames.push(frame);
    this._wake();
  }

  _wake() {
    const ws = this.waiters;
    this.waiters = [];
    for (const f of ws) f();
  }

  async _until(pred, what, timeout) {
    const deadline = Date.now() + (timeout || DEFAULT_TIMEOUT);
    for (;;) {
      if (this.violations.length) {
        throw new Error(`frame channel violation: ${this.violations.join('; ')}\nlogs:\n${this.logText}`);
      }
      const v = pred();
      if (v) return v;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}\nframes: ${JSON.stringify(this.frames.map((f) => f.line))}\nexit: ${JSON.stringify(this.exitInfo)}\nlogs:\n${this.logText}`);
      }
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Next unread frame. */
  async frame(timeout) {
    this.readIndex = this.readIndex || 0;
    const f = await this._until(
      () => this.frames[this.readIndex] || (this.exitInfo && this.frameChannelClosed && 'EXIT'),
      'a frame',
      timeout,
    );
    if (f === 'EXIT') {
      throw new Error(`worker exited (${JSON.stringify(this.exitInfo)}) without another frame\nlogs:\n${this.logText}`);
    }
    this.readIndex++;
    return f;
  }

  async ready(timeout) {
    const f = await this.frame(timeout);
    if (f.header.type !== 'ready') {
      throw new Error(`expected ready, got ${f.line} ${f.body || ''}\nlogs:\n${this.logText}`);
    }
    return f;
  }

  send(header, payload) {
    const parts = [Buffer.from(JSON.stringify(header) + '\n')];
    if (payload !== undefined) parts.push(payload, Buffer.from('\n'));
    this.input.write(Buffer.concat(parts));
  }

  sendRaw(buf) {
    this.input.write(buf);
  }

  /** Sends an invoke frame; event may be an object (JSON-encoded), a string or a Buffer. */
  sendInvoke(event, opts) {
    const o = opts || {};
    const payload = Buffer.isBuffer(event)
      ? event
      : Buffer.from(typeof event === 'string' ? event : JSON.stringify(event === undefined ? {} : event));
    const id = o.id || `req-${Math.random().toString(16).slice(2, 10)}`;
    const header = {
      type: 'invoke',
      id,
      deadline_ms: o.deadline_ms !== undefined ? o.deadline_ms : Date.now() + (o.timeoutMs || 30000),
      arn: o.arn || 'arn:aws:lambda:us-east-1:123456789012:function:test-fn',
      trace_id: o.trace_id === undefined ? null : o.trace_id,
      client_context: o.client_context === undefined ? null : o.client_context,
      cognito_identity: o.cognito_identity === undefined ? null : o.cognito_identity,
      tenant_id: o.tenant_id === undefined ? null : o.tenant_id,
      content_type: 'application/json',
      len: payload.length,
    };
    this.send(header, payload);
    return id;
  }

  /** Sends an invoke and returns its answer frame (checks the id is echoed). */
  async invoke(event, opts) {
    const id = this.sendInvoke(event, opts);
    const f = await this.frame(opts && opts.timeout);
    if (f.header.id !== id) {
      throw new Error(`answer id ${f.header.id} does not echo ${id}: ${f.line}`);
    }
    return f;
  }

  async exit(timeout) {
    if (this.exitInfo) return this.exitInfo;
    return this._until(() => this.exitInfo, 'worker exit', timeout);
  }

  /** Sends shutdown and waits for the exit; afterwards logText is complete. */
  async settle() {
    if (!this.exitInfo) this.send({ type: 'shutdown' });
    return this.exit();
  }

  async waitLog(re, timeout) {
    return this._until(() => re.test(this.logText), `log matching ${re}`, timeout);
  }

  /** Log lines (TEXT format splits on \n only; \r stays inside a line). */
  logLines() {
    return this.logText.split('\n').filter((l) => l.length > 0);
  }

  kill() {
    if (this.child && this.exitInfo === null) {
      try {
        this.child.kill('SIGKILL');
      } catch (_) {
        /* already gone */
      }
    }
  }

  async close() {
    this.kill();
    await Promise.race([this.exit(5000).catch(() => {}), delay(5000)]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Starts a worker, waits for ready, runs fn, always cleans up.
async function withWorker(options, fn) {
  const w = await ShimWorker.start(options);
  try {
    return await fn(w);
  } finally {
    await w.close();
  }
}

// Asserts a Node-style error body: exact key order, compact JSON, and the given fields.
function assertErrorBody(assert, frame, expected) {
  assert.ok(frame.json, `payload is JSON: ${frame.body}`);
  assert.equal(frame.body, JSON.stringify(frame.json), 'compact JSON.stringify output');
  assert.deepEqual(Object.keys(frame.json), Object.keys(expected.trace === undefined && !('trace' in frame.json) ? { errorType: 1, errorMessage: 1 } : { errorType: 1, errorMessage: 1, trace: 1 }));
  assert.equal(frame.json.errorType, expected.errorType);
  assert.equal(frame.json.errorMessage, expected.errorMessage);
  if (expected.trace !== undefined) {
    if (typeof expected.trace === 'function') expected.trace(frame.json.trace);
    else if (Array.isArray(expected.trace)) {
      assert.deepEqual(frame.json.trace.slice(0, expected.trace.length), expected.trace);
    }
  }
}

// Matches one TEXT log line: <ISO time>\t<requestId>\t<LEVEL>\t<message>
const TEXT_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t([^\t]*)\t(TRACE|DEBUG|INFO|WARN|ERROR|FATAL)\t(.*)$/s;

module.exports = {
  SHIM_DIR,
  SHIM_MODULE_PREFIX,
  BOOT_SOURCE,
  BUNDLE_FD,
  fnv1a64,
  bundleFiles,
  buildBundle,
  FIXTURES,
  ShimWorker,
  withWorker,
  assertErrorBody,
  baseEnv,
  delay,
  TEXT_LINE,
};
