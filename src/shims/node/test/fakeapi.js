'use strict';
// The shared fake Runtime API (fake-api/, its `ferric-fake-api` binary; control API under
// /_fake/, fake-api/README.md) for the Node suite's differential tests: aws-lambda-ric and
// ferric run against the same platform, which records every request (headers, body bytes,
// chunk timing, trailers). Also: running a runtime process against it with its output on a FIFO,
// and the built ferric binary (rebuilt when the Node shim is newer than it).
//
// This file is not a test (Node's runner lists it as a passing file).

const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const http = require('http');
const readline = require('readline');
const { spawn, spawnSync } = require('child_process');

const REPO = path.resolve(__dirname, '..', '..', '..', '..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
const FAKE_BIN = process.env.FERRIC_FAKE_API_BIN || path.join(TARGET, 'debug', 'ferric-fake-api');
const FERRIC_BIN = process.env.FERRIC_TEST_BIN || path.join(TARGET, 'debug', 'ferric');
const SHIM_DIR = path.resolve(__dirname, '..');

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function cargoBuild(args, what) {
  const r = spawnSync('cargo', ['build', '-q', ...args], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    throw new Error(`${what}: \`cargo build ${args.join(' ')}\` failed (${r.error ? r.error.message : `exit ${r.status}`}); run it in ${REPO}`);
  }
}

/** target/debug/ferric-fake-api, built if missing (`cargo build -p ferric-fake-api`). */
function fakeBinary() {
  if (!fs.existsSync(FAKE_BIN)) {
    if (process.env.FERRIC_FAKE_API_BIN) throw new Error(`FERRIC_FAKE_API_BIN=${FAKE_BIN} does not exist`);
    cargoBuild(['-p', 'ferric-fake-api'], `the fake Runtime API is not built (${FAKE_BIN})`);
  }
  if (!fs.existsSync(FAKE_BIN)) {
    throw new Error(`no fake Runtime API at ${FAKE_BIN}: run \`cargo build -p ferric-fake-api\``);
  }
  return FAKE_BIN;
}

function newestShimFile() {
  let newest = fs.statSync(path.join(SHIM_DIR, 'boot.js')).mtimeMs;
  const dir = path.join(SHIM_DIR, 'worker');
  for (const f of fs.readdirSync(dir)) newest = Math.max(newest, fs.statSync(path.join(dir, f)).mtimeMs);
  return newest;
}

/**
 * target/debug/ferric, rebuilt (`cargo build --bin ferric`) when missing or older than the Node
 * shim it embeds (src/shims/node). FERRIC_TEST_BIN names another build, used as it is.
 */
function ferricBinary() {
  if (process.env.FERRIC_TEST_BIN) return FERRIC_BIN;
  const stale = !fs.existsSync(FERRIC_BIN) || fs.statSync(FERRIC_BIN).mtimeMs < newestShimFile();
  if (stale) cargoBuild(['--bin', 'ferric'], `target/debug/ferric is missing or older than src/shims/node`);
  return FERRIC_BIN;
}

class FakeApi {
  /** Starts the binary; `args` are its options (--timeout-ms, --arn, ...). */
  static async start(args) {
    const bin = fakeBinary();
    const child = spawn(bin, args || [], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    const line = await new Promise((resolve, reject) => {
      lines.once('line', resolve);
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`${bin} exited (${code}) before listening`)));
    });
    const m = /^listening on (\S+)$/.exec(line);
    if (!m) throw new Error(`${bin}: unexpected first line ${JSON.stringify(line)}`);
    return new FakeApi(child, m[1]);
  }

  constructor(child, address) {
    this.child = child;
    this.address = address;
  }

  control(method, what, payload) {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    return new Promise((resolve, reject) => {
      const request = http.request(
        `http://${this.address}/_fake/${what}`,
        {
          method,
          agent: false,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (answer) => {
          let text = '';
          answer.setEncoding('utf8');
          answer.on('data', (chunk) => (text += chunk));
          answer.on('end', () => {
            try {
              const json = JSON.parse(text);
              if (answer.statusCode !== 200) reject(new Error(`/_fake/${what}: ${answer.statusCode} ${text}`));
              else resolve(json);
            } catch (e) {
              reject(new Error(`/_fake/${what}: ${answer.statusCode} ${text}`));
            }
          });
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  /** POST /_fake/invoke: blocks until the invocation is settled or timed out. */
  invoke(spec) {
    return this.control('POST', 'invoke', spec);
  }

  requests() {
    return this.control('GET', 'requests');
  }

  initError() {
    return this.control('GET', 'init_error');
  }

  reset() {
    return this.control('POST', 'reset');
  }

  async close() {
    try {
      await this.control('POST', 'shutdown');
    } catch (_) {
      /* already gone */
    }
    if (this.child.exitCode === null) {
      await Promise.race([new Promise((resolve) => this.child.once('exit', resolve)), delay(2000)]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
  }
}

function decode(b64) {
  return b64 === null || b64 === undefined ? null : Buffer.from(b64, 'base64');
}

// Output of a runtime process: one FIFO for stdout and stderr, like Lambda's (and ferric's) log
// pipe.
function logFifo(dir) {
  const p = path.join(dir, 'log');
  spawnSync('mkfifo', [p]);
  const rfd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wfd = fs.openSync(p, fs.constants.O_WRONLY);
  return { sock: new net.Socket({ fd: rfd, readable: true, writable: false }), wfd };
}

/**
 * Runs `command args` (aws-lambda-ric, or ferric with the shim) against `fake` and makes the
 * invocations `invokes` (POST /_fake/invoke specs) one after another, each raced against the
 * process exiting. Then waits (up to `settleMs`) for the runtime's next /next, so output after
 * the last answer is in, and stops it (SIGKILL, or SIGTERM + wait with `terminate`).
 * extraFds: more descriptors for the child (fd 3, 4, ... in order).
 * Returns { results (the invoke answers, bodies decoded), requests (GET /_fake/requests, bodies
 * decoded), initError, logText, exit (code, null when killed) }.
 */
async function runRuntime({ fake, command, args, cwd, env, invokes, extraFds, settleMs, terminate }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-rt-'));
  const log = logFifo(dir);
  let logText = '';
  log.sock.on('data', (d) => (logText += d.toString('utf8')));
  const logClosed = new Promise((resolve) => log.sock.on('close', resolve));
  const child = spawn(command, args, {
    cwd,
    env: { ...env, AWS_LAMBDA_RUNTIME_API: fake.address },
    stdio: ['ignore', log.wfd, log.wfd, ...(extraFds || [])],
  });
  fs.closeSync(log.wfd);
  let exit = null;
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  const results = [];
  for (const spec of invokes) {
    const answer = fake.invoke(spec);
    answer.catch(() => {}); // an invocation never served ends when the fake shuts down
    const first = await Promise.race([answer.then(() => 'answer'), exited.then(() => 'exit')]);
    if (first === 'exit') {
      // settled by what the process posted before exiting, or never
      const late = await Promise.race([answer, delay(500).then(() => null)]);
      results.push(late ? withBody(late) : { request_id: spec.request_id, outcome: 'not_served', body: null });
      break;
    }
    results.push(withBody(await answer));
  }
  // the next /next (the runtime is done with the last invocation), or the exit
  const until = Date.now() + (settleMs === undefined ? 5000 : settleMs);
  while (!exit && Date.now() < until) {
    const requests = await fake.requests();
    const last = requests[requests.length - 1];
    if (last && last.kind === 'next' && last.status === null) break;
    await delay(50);
  }
  await delay(150); // late output (an error logged right after the answer)
  const requests = (await fake.requests()).map((r) => ({ ...r, body: decode(r.body_base64) }));
  const initError = await fake.initError();
  if (!exit) {
    if (terminate) {
      child.kill('SIGTERM');
      await Promise.race([exited, delay(3000)]);
    }
    if (!exit) child.kill('SIGKILL');
    await exited;
  }
  await Promise.race([logClosed, delay(3000)]);
  log.sock.destroy();
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    results,
    requests,
    initError: initError && { headers: initError.headers, body: decode(initError.body_base64) },
    logText,
    exit: exit.signal === null ? exit.code : null,
  };
}

function withBody(result) {
  return { ...result, body: decode(result.body_base64) };
}

module.exports = { REPO, FAKE_BIN, FERRIC_BIN, FakeApi, fakeBinary, ferricBinary, runRuntime, delay };
