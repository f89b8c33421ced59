'use strict';
// How the worker starts (src/shims/README.md): the boot program on the command line, the
// bundle of worker/*.js on FERRIC_SHIM_FD, what user code can see of either afterwards, and
// clear fatal messages when the bundle is missing or broken.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const {
  ShimWorker,
  withWorker,
  SHIM_DIR,
  SHIM_MODULE_PREFIX,
  BOOT_SOURCE,
  fnv1a64,
  bundleFiles,
  buildBundle,
} = require('./harness');

const WORKER_DIR = path.join(SHIM_DIR, 'worker');

test('bundle format and key follow the contract (FNV-1a 64, sorted index, offsets from the start)', () => {
  assert.equal(fnv1a64(Buffer.from('')), 'cbf29ce484222325');
  assert.equal(fnv1a64(Buffer.from('a')), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64(Buffer.from('foobar')), '85944171f73967e8');
  const files = bundleFiles(WORKER_DIR);
  const bundle = buildBundle(files);
  const end = bundle.indexOf('\n\n');
  assert.ok(end > 0 && end + 2 <= 4096, 'the index fits in 4096 bytes');
  const lines = bundle.toString('latin1', 0, end).split('\n');
  assert.equal(lines[0], 'ferric-bundle 1');
  const names = lines.slice(1).map((l) => l.split(' ')[2]);
  assert.deepEqual(names, [...names].sort());
  assert.deepEqual(names, fs.readdirSync(WORKER_DIR).filter((n) => n.endsWith('.js')).sort());
  let expected = end + 2;
  for (const l of lines.slice(1)) {
    const [off, len, name] = l.split(' ');
    assert.equal(Number(off), expected, name);
    assert.ok(bundle.subarray(+off, +off + +len).equals(fs.readFileSync(path.join(WORKER_DIR, name))), name);
    expected += Number(len);
  }
  assert.equal(expected, bundle.length);
});

test('the command line is node --input-type=commonjs -e <boot.js> -- HANDLER, under 4 KiB', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    const raw = fs.readFileSync(`/proc/${w.child.pid}/cmdline`);
    assert.ok(raw.length < 4096, `${raw.length} bytes`);
    const argv = raw.toString('utf8').split('\0').slice(0, -1);
    assert.deepEqual(argv.slice(1), ['--input-type=commonjs', '-e', BOOT_SOURCE, '--', 'index.echo']);
    assert.ok(BOOT_SOURCE.startsWith('// '), 'boot.js starts with a comment saying what it is');
  });
});

test('user code sees no FERRIC_SHIM_* / FERRIC_PROTOCOL_FD, at load, per invocation and in child processes', async () => {
  await withWorker({ handler: 'index.ferricEnv', env: { FERRIC_SHIM_FUTURE: 'x' } }, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assert.deepEqual(f.json, { atLoad: [], now: [], child: [] });
  });
});

test('the bundle descriptor is closed after boot: neither the worker nor its children hold it', async () => {
  await withWorker({ handler: 'index.childFds' }, async (w) => {
    await w.ready();
    const bundleTarget = fs.readlinkSync(`/proc/self/fd/${w.bundleFd}`);
    assert.match(bundleTarget, /ferric-node-bundle-.*\(deleted\)$/);
    const held = fs
      .readdirSync(`/proc/${w.child.pid}/fd`)
      .map((fd) => [fd, fs.readlinkSync(`/proc/${w.child.pid}/fd/${fd}`)]);
    assert.ok(!held.some(([, t]) => t === bundleTarget), `the worker holds the bundle: ${JSON.stringify(held)}`);
    const f = await w.invoke({});
    assert.equal(f.header.type, 'result');
    assert.ok(!f.json.includes('ferric-node-bundle'), `a child process inherited the bundle:\n${f.json}`);
  });
});

test('the bundle is read with positioned reads: the shared file offset stays 0', async () => {
  for (let i = 0; i < 2; i++) {
    await withWorker({ handler: 'index.echo' }, async (w) => {
      await w.ready();
      const info = fs.readFileSync(`/proc/self/fdinfo/${w.bundleFd}`, 'utf8');
      assert.match(info, /^pos:\s+0$/m);
    });
  }
});

test('runtime stack frames are named after the bundled modules', async () => {
  await withWorker({ handler: 'index.throwsSync' }, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assert.equal(f.header.type, 'error');
    assert.match(f.json.trace[1], /^ {4}at exports\.throwsSync \[as handler\] /);
    assert.equal(f.json.trace[2], `    at Runtime.handleOnceNonStreaming (${SHIM_MODULE_PREFIX}v3.js:${f.json.trace[2].split(':').slice(-2).join(':')}`);
    const cause = JSON.parse(f.header.xray_cause);
    assert.ok(cause.paths.includes(`${SHIM_MODULE_PREFIX}v3.js`), JSON.stringify(cause.paths));
    const v3 = cause.exceptions[0].stack.find((e) => e.path === `${SHIM_MODULE_PREFIX}v3.js`);
    assert.equal(typeof v3.line, 'number');
    assert.ok(v3.line > 0);
  });
});

// ---- fatal start-up failures ------------------------------------------------------------------

async function expectBootFailure(options, message) {
  const w = await ShimWorker.start({ handler: 'index.echo', ...options });
  try {
    const e = await w.exit();
    assert.deepEqual(e, { code: 1, signal: null }, w.logText);
    assert.equal(w.frames.length, 0, 'no frame');
    assert.match(w.logText, message);
    return w.logText;
  } finally {
    await w.close();
  }
}

function shimCopy(mutate) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-node-shim-copy-'));
  fs.cpSync(SHIM_DIR, dir, { recursive: true, filter: (src) => path.relative(SHIM_DIR, src).split(path.sep)[0] !== 'test' });
  mutate(dir);
  return dir;
}

test('no bundle, an unreadable descriptor or something that is not a bundle: a clear fatal message', async () => {
  await expectBootFailure({ bundle: false }, /^ferric-shim: no shim bundle: FERRIC_SHIM_FD is not set\n$/);
  await expectBootFailure({ env: { FERRIC_SHIM_FD: '250' } }, /^ferric-shim: cannot read the shim bundle on FERRIC_SHIM_FD=250: EBADF/);
  await expectBootFailure({ env: { FERRIC_SHIM_FD: '3' } }, /^ferric-shim: cannot read the shim bundle on FERRIC_SHIM_FD=3: ESPIPE/);
  await expectBootFailure({ env: { FERRIC_SHIM_FD: '1' } }, /^ferric-shim: no shim bundle: FERRIC_SHIM_FD is "1"\n$/);
  await expectBootFailure({ bundle: Buffer.from('#!/bin/sh\necho hello\n') }, /^ferric-shim: cannot read the shim bundle on FERRIC_SHIM_FD=4: no "ferric-bundle 1" index\n$/);
  const onlyErrors = buildBundle(bundleFiles(WORKER_DIR).filter(([n]) => n === 'errors.js'));
  await expectBootFailure({ bundle: onlyErrors }, /^ferric-shim: the shim bundle has no main.js\n$/);
});

test('a syntax error in a bundled module: a clear fatal message naming the module and line', async () => {
  const dir = shimCopy((d) => fs.appendFileSync(path.join(d, 'worker', 'errors.js'), '\nconst broken = ;\n'));
  try {
    const log = await expectBootFailure(
      { shimDir: dir },
      new RegExp(`^ferric-shim: cannot load ${SHIM_MODULE_PREFIX}errors\\.js: ${SHIM_MODULE_PREFIX}errors\\.js:\\d+\\n`),
    );
    assert.match(log, /const broken = ;/);
    assert.match(log, /SyntaxError: Unexpected token ';'/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an exception while a bundled module initialises is fatal too', async () => {
  const dir = shimCopy((d) => fs.appendFileSync(path.join(d, 'worker', 'loop.js'), "\nrequire('./no-such-module');\n"));
  try {
    await expectBootFailure({ shimDir: dir }, /^ferric-shim: the shim bundle has no no-such-module\.js\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('FERRIC_SHIM_PREPARE=1: no code cache for Node yet, says so and exits 1', async () => {
  await expectBootFailure({ env: { FERRIC_SHIM_PREPARE: '1' } }, /^ferric-shim: the Node\.js shim has no compiled-code cache yet/);
});
