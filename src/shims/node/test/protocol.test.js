'use strict';
// Worker protocol v1 (docs/PROTOCOL.md): ready, framing, shutdown/EOF, bad input from ferric,
// and the guarantee that nothing but the shim writes to the frame channel.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { ShimWorker, withWorker, FIXTURES, SHIM_DIR, BOOT_SOURCE, delay } = require('./harness');

const INIT = path.join(FIXTURES, 'init');

test('ready is the first frame; start-up time to ready', async (t) => {
  const times = [];
  for (let i = 0; i < 5; i++) {
    await withWorker({ handler: 'index.echo' }, async (w) => {
      const f = await w.ready();
      times.push(w.readyAt - w.startedAt);
      assert.deepEqual(Object.keys(f.header).slice(0, 5), ['type', 'protocol', 'pid', 'runtime', 'executable']);
      assert.equal(f.header.protocol, 1);
      assert.equal(f.header.pid, w.child.pid);
      assert.equal(f.header.runtime, `node ${process.versions.node}`);
      assert.ok(path.isAbsolute(f.header.executable));
      assert.equal(f.header.executable, process.execPath);
      assert.equal(f.header.compat, 'aws-lambda-ric v3');
      assert.equal(f.payload, null);
      assert.equal(f.line, JSON.stringify(f.header), 'one-line compact header');
      await w.settle();
      assert.equal(w.logLines()[0], `Executing 'index.echo' in function directory '${path.join(FIXTURES, 'app')}'`);
    });
  }
  times.sort((a, b) => a - b);
  t.diagnostic(`spawn -> ready: min ${times[0]} ms, median ${times[2]} ms, max ${times[4]} ms`);
  assert.ok(times[2] < 2000, `median start-up ${times[2]} ms`);
});

test('the boot program fits in one argv string (at most 3 KiB; Linux MAX_ARG_STRLEN is 128 KiB)', () => {
  assert.ok(Buffer.byteLength(BOOT_SOURCE) <= 3 * 1024, `${Buffer.byteLength(BOOT_SOURCE)} bytes`);
});

test('shutdown -> exit hooks run, exit 0', async () => {
  await withWorker({ handler: 'exithook.handler', cwd: INIT }, async (w) => {
    await w.ready();
    assert.equal((await w.invoke({})).json, 'running');
    w.send({ type: 'shutdown' });
    const e = await w.exit();
    assert.deepEqual(e, { code: 0, signal: null });
    assert.match(w.logText, /\[exit hook\] code=0\n/);
    assert.equal(w.frames.length, 2);
  });
});

test('shutdown runs the user\'s SIGTERM handlers (graceful shutdown), then exit 0', async () => {
  await withWorker({ handler: 'sigterm.handler', cwd: INIT }, async (w) => {
    await w.ready();
    w.send({ type: 'shutdown' });
    const e = await w.exit();
    assert.deepEqual(e, { code: 0, signal: null });
    assert.match(w.logText, /\[sigterm\] cleaning up/);
    assert.match(w.logText, /\[sigterm\] done/);
    assert.match(w.logText, /\[exit hook\] code=0/);
  });
});

test('shutdown while an invocation is running -> exit 0 without an answer', async () => {
  await withWorker({ handler: 'index.cbWait' }, async (w) => {
    await w.ready();
    w.sendInvoke({});
    await delay(50);
    w.send({ type: 'shutdown' });
    assert.deepEqual(await w.exit(), { code: 0, signal: null });
    assert.equal(w.frames.length, 1);
  });
});

test('EOF on stdin -> exit 0 (idle and mid-invocation)', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    await w.invoke({});
    w.input.end();
    assert.deepEqual(await w.exit(), { code: 0, signal: null });
  });
  await withWorker({ handler: 'index.cbWait' }, async (w) => {
    await w.ready();
    w.sendInvoke({});
    w.input.end();
    assert.deepEqual(await w.exit(), { code: 0, signal: null });
  });
});

test('unknown frame types and unknown header fields from ferric are ignored', async () => {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    w.send({ type: 'telemetry', whatever: [1, 2] });
    w.send({ type: 'future-thing', len: 5 }, Buffer.from('12345'));
    const f = await w.invoke({ ok: true }, { id: 'after-unknown' });
    assert.deepEqual(f.json, { ok: true });
    w.send({ type: 'invoke', id: 'extra-fields', deadline_ms: Date.now() + 5000, arn: 'a', new_field: { x: 1 }, len: 2 }, Buffer.from('{}'));
    const g = await w.frame();
    assert.equal(g.header.id, 'extra-fields');
    assert.equal(g.body, '{}');
  });
});

test('frames split anywhere across reads, and several in one read, are read whole', async () => {
  const invokeBytes = (id, event) => {
    const payload = Buffer.from(event);
    const header = { type: 'invoke', id, deadline_ms: Date.now() + 30000, arn: 'a', len: payload.length };
    return Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), payload, Buffer.from('\n')]);
  };
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    // a large pretty-printed event first: the worker's read buffer is then full of newlines that
    // later, shorter reads must not mistake for the end of their header line
    const big = JSON.stringify({ rows: Array.from({ length: 4000 }, (_, i) => ({ i, s: 'x'.repeat(8) })) }, null, 1);
    w.sendRaw(invokeBytes('big', big));
    assert.equal((await w.frame()).body, JSON.stringify(JSON.parse(big)));
    // one frame in pieces of 1 to 9 bytes, each its own write; the final "\n" alone
    const bytes = invokeBytes('split', '{"a": [1, 2, {"b": "c"}], "u": "\u00e9\u6f22"}');
    let off = 0;
    for (let i = 0; off < bytes.length - 1; i++) {
      const end = Math.min(off + 1 + (i % 9), bytes.length - 1);
      w.sendRaw(bytes.subarray(off, end));
      off = end;
      await delay(2);
    }
    await delay(20);
    assert.equal(w.frames.length, 2, 'ready and one answer: none before the frame\'s final "\\n"');
    w.sendRaw(bytes.subarray(bytes.length - 1));
    const f = await w.frame();
    assert.equal(f.header.id, 'split');
    assert.deepEqual(f.json, { a: [1, 2, { b: 'c' }], u: '\u00e9\u6f22' });
    // an ignored frame, a payload-less one and an invoke in a single write
    w.sendRaw(
      Buffer.concat([
        Buffer.from('{"type":"future-thing","len":3}\nabc\n{"type":"telemetry"}\n'),
        invokeBytes('third', '{"n":3}'),
      ]),
    );
    const g = await w.frame();
    assert.equal(g.header.id, 'third');
    assert.deepEqual(g.json, { n: 3 });
  });
});

test('user code touching process.stdin sees no frames and leaves them to the worker', async () => {
  await withWorker({ handler: 'index.touchStdin' }, async (w) => {
    await w.ready();
    for (let i = 0; i < 3; i++) {
      const f = await w.invoke({ i });
      assert.equal(f.header.type, 'result', f.line);
      assert.deepEqual(f.json, { same: true, fd: 0, isTTY: '<undefined>' });
    }
    assert.doesNotMatch(w.logText, /saw \d+ bytes/);
  });
});

async function expectProtocolFailure(bytes, before, { end = false } = {}) {
  await withWorker({ handler: 'index.echo' }, async (w) => {
    await w.ready();
    if (before) await before(w);
    w.sendRaw(bytes);
    if (end) w.input.end();
    const e = await w.exit();
    assert.equal(e.code, 2, JSON.stringify(e));
    assert.match(w.logText, /ferric-shim: protocol error/);
  });
}

test('bad input from ferric is fatal for the worker (bounded header, framing checks)', async () => {
  await expectProtocolFailure(Buffer.alloc(1024 * 1024 + 6 * 1024, 'a')); // no newline within 1 MiB
  await expectProtocolFailure(Buffer.from(`{"type":"invoke","id":"x","pad":"${'p'.repeat(1024 * 1024 + 2 * 1024)}"}\n`));
  await expectProtocolFailure(Buffer.from('this is not json\n'));
  await expectProtocolFailure(Buffer.from('[1,2]\n'));
  await expectProtocolFailure(Buffer.from('{"type":"invoke","id":"x","len":2}\n{}X'));
  await expectProtocolFailure(Buffer.from('{"type":"invoke","id":"x","len":-1}\n'));
  await expectProtocolFailure(Buffer.from('{"type":"invoke","len":2}\n{}\n'));
  // a frame cut off by the end of input: in the header, and in the payload
  await expectProtocolFailure(Buffer.from('{"type":"inv'), null, { end: true });
  await expectProtocolFailure(Buffer.from('{"type":"invoke","id":"x","len":10}\n{}'), null, { end: true });
});

test('header lines from ferric may be up to 1 MiB (exactly 1048576 bytes before the newline), not more', async () => {
  // an invoke header padded with an unknown field to an exact length
  const header = (length) => {
    const h = { type: 'invoke', id: 'big', deadline_ms: Date.now() + 30000, arn: 'a', pad: '', len: 2 };
    h.pad = 'p'.repeat(length - Buffer.byteLength(JSON.stringify(h)));
    const line = JSON.stringify(h);
    assert.equal(Buffer.byteLength(line), length);
    return Buffer.from(`${line}\n{}\n`);
  };
  await withWorker({ handler: 'index.echo', channel: 'fifo' }, async (w) => {
    await w.ready();
    w.sendRaw(header(1024 * 1024));
    const f = await w.frame();
    assert.equal(f.header.id, 'big');
    assert.equal(f.body, '{}');
    assert.deepEqual((await w.invoke({ after: 1 })).json, { after: 1 });
  });
  await expectProtocolFailure(header(1024 * 1024 + 1));
});

test('a second invoke while one is in flight is a protocol error', async () => {
  await withWorker({ handler: 'index.cbLater' }, async (w) => {
    await w.ready();
    w.sendInvoke({});
    w.sendInvoke({});
    const e = await w.exit();
    assert.notEqual(e.code, 0);
    assert.match(w.logText, /another invocation is in progress/);
  });
});

test('console.log / process.stdout.write / stderr of huge output never corrupt frames', async () => {
  await withWorker({ handler: 'index.hugeLogs' }, async (w) => {
    await w.ready();
    for (let i = 0; i < 2; i++) {
      const f = await w.invoke({ size: 2 * 1024 * 1024 });
      assert.equal(f.header.type, 'result');
      assert.deepEqual(f.json, { logged: 2 * 1024 * 1024 });
    }
    // every byte on the frame channel belongs to a frame
    const expected = w.frames.reduce((n, f) => n + Buffer.byteLength(f.line) + 1 + (f.payload ? f.payload.length + 1 : 0), 0);
    assert.equal(w.rawFrameBytes, expected);
    assert.equal(w.frames.length, 3);
    assert.ok(w.logText.includes('{"type":"result","id":"evil"'), 'the fake frames went to the logs');
    await w._until(() => w.logText.length > 8 * 1024 * 1024, 'all log output');
  });
});

test('child processes started by the handler write to the log pipe', async () => {
  await withWorker({ handler: 'index.childStdioInherit' }, async (w) => {
    await w.ready();
    assert.equal((await w.invoke({})).json, 'ok');
    await w.settle();
    assert.match(w.logText, /child-stdout-line\n/);
    assert.match(w.logText, /child-stderr-line\n/);
  });
});

test('real pipes (as ferric uses): full exchange, and child processes do not inherit the frame pipe', async () => {
  await withWorker({ handler: 'index.childFds', channel: 'fifo' }, async (w) => {
    await w.ready();
    const f = await w.invoke({});
    assert.equal(f.header.type, 'result');
    assert.ok(!f.json.includes(w.framesFifoPath), `a grandchild holds the frame pipe:\n${f.json}`);
    w.send({ type: 'shutdown' });
    assert.equal((await w.exit()).code, 0);
  });
  await withWorker({ handler: 'index.echo', channel: 'fifo' }, async (w) => {
    await w.ready();
    const big = { s: 'q'.repeat(3 * 1024 * 1024) };
    assert.deepEqual((await w.invoke(big)).json, big);
  });
  // event-loop draining does not depend on what kind of descriptor stdin is
  for (const [h, expected] of [
    ['cbWait', { fired: true, waits: true }],
    ['cbNoWait', { fired: false, waits: false }],
    ['syncNever', null],
  ]) {
    await withWorker({ handler: `index.${h}`, channel: 'fifo' }, async (w) => {
      await w.ready();
      assert.deepEqual((await w.invoke({})).json, expected);
      assert.deepEqual((await w.invoke({})).json, expected);
    });
  }
});

test('non-blocking frame descriptor: a 5 MB answer survives EAGAIN while ferric is not reading', async () => {
  await withWorker({ handler: 'index.bigResult', channel: 'nonblocking-socket' }, async (w) => {
    await w.ready();
    w.frameSource.pause();
    w.sendInvoke({ size: 5 * 1024 * 1024 });
    await delay(700);
    assert.equal(w.frames.length, 1, 'nothing complete while paused');
    w.frameSource.resume();
    const f = await w.frame();
    assert.equal(f.header.type, 'result');
    assert.equal(f.json.length, 5 * 1024 * 1024);
    assert.deepEqual((await w.invoke({ size: 3 })).json, 'yyy');
    // multi-byte text cut by EAGAIN at some byte: the rest must follow from exactly there, and len
    // must count what the write encoded (a lone surrogate reaches the frame as JSON's \ud800 escape)
    w.frameSource.pause();
    w.sendInvoke({ size: 700 * 1024, unit: '\u00e9\u20ac\ud83d\ude00\ud800' });
    await delay(500);
    w.frameSource.resume();
    const g = await w.frame();
    assert.equal(g.header.type, 'result');
    assert.equal(g.json, '\u00e9\u20ac\ud83d\ude00\ud800'.repeat(700 * 1024));
  });
});

test('FERRIC_PROTOCOL_FD below 3 is refused; unset means 3', async () => {
  await withWorker({ handler: 'index.echo', env: { FERRIC_PROTOCOL_FD: '1' } }, async (w) => {
    const e = await w.exit();
    assert.equal(e.code, 1);
    assert.equal(w.frames.length, 0);
    assert.match(w.logText, /FERRIC_PROTOCOL_FD=1/);
    assert.doesNotMatch(w.logText, /\{"type":"ready"/, 'nothing that looks like a frame went to fd 1');
  });
  await withWorker({ handler: 'index.echo', env: { FERRIC_PROTOCOL_FD: null } }, async (w) => {
    await w.ready();
  });
});

test('the worker also runs from its files (node worker/main.js HANDLER)', async () => {
  const file = path.join(SHIM_DIR, 'worker', 'main.js');
  await withWorker({ argv: [file, 'index.echo'] }, async (w) => {
    await w.ready();
    assert.deepEqual((await w.invoke({ f: 1 })).json, { f: 1 });
  });
});

test('the worker exits promptly when the frame pipe is gone', async () => {
  const w = await ShimWorker.start({ handler: 'index.echo' });
  try {
    await w.ready();
    w.frameSource.destroy();
    w.sendInvoke({});
    const e = await w.exit();
    assert.notEqual(e.code, 0);
  } finally {
    await w.close();
  }
});

test('fixture files are inert when node --test executes them directly', () => {
  // node --test runs every .js under test/; guard against a fixture that does work on load
  const { spawnSync } = require('child_process');
  for (const f of ['app/index.js', 'init/throws.js', 'init/rejects.js', 'init/streaming.js', 'init/sigterm.js']) {
    const r = spawnSync(process.execPath, [path.join(FIXTURES, f)], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    assert.equal(r.stdout + r.stderr, '', f);
  }
  assert.ok(fs.existsSync(path.join(FIXTURES, 'app', 'noext')));
});
