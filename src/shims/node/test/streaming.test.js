'use strict';
// Response streaming in the shim itself (frames on the harness's strict frame reader): which
// frames, how large, in which order, when the next invocation may start, memory while piping,
// and the behaviour without FERRIC_PROTOCOL_FEATURES=streaming. What aws-lambda-ric posts for
// the same handlers: streaming-differential.test.js.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ShimWorker, withWorker, FIXTURES, delay } = require('./harness');

const ROOT = path.join(FIXTURES, 'streaming');
const STREAMING = { FERRIC_PROTOCOL_FEATURES: 'streaming' };
const GENERATIONS = ['v3', 'v4'];

/** The frames answering `id`, up to stream_end / stream_error / result / error. */
async function answer(w, id, timeout) {
  const frames = [];
  for (;;) {
    const f = await w.frame(timeout);
    assert.equal(f.header.id, id, `frame for ${id}: ${f.line}`);
    frames.push(f);
    if (['stream_end', 'stream_error', 'result', 'error'].includes(f.header.type)) return frames;
  }
}

function streamed(frames) {
  const [start, ...rest] = frames;
  const last = rest.pop();
  for (const c of rest) assert.equal(c.header.type, 'stream_chunk', c.line);
  return {
    start,
    chunks: rest,
    body: Buffer.concat(rest.map((c) => c.payload)),
    last,
  };
}

function start(handler, compat, extra) {
  return {
    handler,
    cwd: ROOT,
    env: { ...STREAMING, FERRIC_NODE_COMPAT: compat, ...((extra && extra.env) || {}) },
    channel: extra && extra.channel,
  };
}

for (const compat of GENERATIONS) {
  test(`${compat}: a stream is stream_start (content type), stream_chunks as written, stream_end`, async () => {
    await withWorker(start('index.text', compat), async (w) => {
      await w.ready();
      for (const id of ['s-1', 's-2']) {
        w.sendInvoke({}, { id });
        const s = streamed(await answer(w, id));
        assert.deepEqual(s.start.header, { type: 'stream_start', id, content_type: 'text/plain; charset=utf-8' });
        assert.equal(s.body.toString('utf8'), 'first line\nsecond line, héllo ✓\nthird line\n');
        assert.ok(s.chunks.length >= 3, 'the pauses separate the pieces');
        assert.deepEqual(s.last.header, { type: 'stream_end', id });
        assert.equal(s.last.payload, null);
      }
    });
  });

  test(`${compat}: errors end the stream with stream_error (error_type + the error JSON), before and after the first write`, async () => {
    for (const [handler, type, body] of [
      ['index.throwsBefore', 'TypeError', ''],
      ['index.throwsAfter', 'RangeError', 'partial '],
      ['index.lateContentType', 'Runtime.InvalidStreamingOperation', 'x'],
    ]) {
      await withWorker(start(handler, compat), async (w) => {
        await w.ready();
        const s = streamed(await answer(w, w.sendInvoke({})));
        assert.equal(s.start.header.type, 'stream_start');
        assert.equal(s.body.toString(), body);
        assert.equal(s.last.header.type, 'stream_error');
        assert.equal(s.last.header.error_type, type);
        assert.equal(s.last.header.len, s.last.payload.length);
        const e = JSON.parse(s.last.payload);
        assert.deepEqual(Object.keys(e), ['errorType', 'errorMessage', 'trace']);
        assert.equal(e.errorType, type);
        // the next invocation is served
        const again = streamed(await answer(w, w.sendInvoke({})));
        assert.equal(again.last.header.type, 'stream_error');
      });
    }
  });

  test(`${compat}: writes larger than 1 MiB become several stream_chunks of at most 1 MiB`, async () => {
    await withWorker(start('index.pipelineLarge', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({ mib: 3 })));
      assert.equal(s.body.length, 3 << 20);
      for (const c of s.chunks) assert.ok(c.payload.length <= 1 << 20 && c.payload.length > 0);
      for (let i = 0; i < 48; i++) assert.equal(s.body[i * 65536], i % 251);
    });
  });

  test(`${compat}: pipeline() from a fast readable does not pile up in the worker (64 MiB through real pipes)`, async () => {
    await withWorker(start('index.pipelineLarge', compat, { channel: 'fifo' }), async (w) => {
      await w.ready();
      const id = w.sendInvoke({ mib: 64 });
      // hold the frame pipe for a while: the worker blocks instead of buffering
      w.frameSource.pause();
      await delay(500);
      const blocked = fs.readFileSync(`/proc/${w.child.pid}/status`, 'utf8');
      w.frameSource.resume();
      let bytes = 0;
      let last;
      for (;;) {
        const f = await w.frame(60000);
        if (f.header.type === 'stream_chunk') bytes += f.payload.length;
        if (f.header.type === 'stream_end' || f.header.type === 'stream_error') {
          last = f;
          break;
        }
      }
      assert.equal(last.header.type, 'stream_end');
      assert.equal(last.header.id, id);
      assert.equal(bytes, 64 << 20);
      const hwm = (s) => Number(/VmHWM:\s+(\d+) kB/.exec(s)[1]) / 1024;
      const peak = hwm(fs.readFileSync(`/proc/${w.child.pid}/status`, 'utf8'));
      assert.ok(hwm(blocked) < 120, `while blocked: ${hwm(blocked)} MiB`);
      assert.ok(peak < 120, `the worker's peak RSS was ${peak} MiB for a 64 MiB stream`);
    });
  });

  test(`${compat}: write() returns false above the stream's highWaterMark and 'drain' follows`, async () => {
    await withWorker(start('index.backpressure', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      const tail = s.body.toString().split('|').pop();
      assert.deepEqual(JSON.parse(tail), { big: false, drained: 'drain', hwm: 1024 });
    });
  });

  test(`${compat}: HttpResponseStream.from writes the prelude and 8 NUL bytes before the first write only`, async () => {
    await withWorker(start('index.http', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      assert.equal(s.start.header.content_type, 'application/vnd.awslambda.http-integration-response');
      const prelude = '{"statusCode":201,"headers":{"x-streamed":"yes","content-type":"text/plain"},"cookies":["a=1","b=2"]}';
      assert.equal(s.body.toString('latin1'), `${prelude}${'\0'.repeat(8)}chunk 0\nchunk 1\n`);
    });
    await withWorker(start('index.httpNoWrite', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      assert.equal(s.start.header.content_type, 'application/vnd.awslambda.http-integration-response');
      assert.equal(s.chunks.length, 0, 'no prelude without a write');
      assert.equal(s.last.header.type, 'stream_end');
    });
  });

  test(`${compat}: a stream left open when nothing can end it: "Response stream is not finished.", then the next invocation`, async () => {
    await withWorker(start('index.never', compat), async (w) => {
      await w.ready();
      for (const id of ['n-1', 'n-2']) {
        const s = streamed(await answer(w, w.sendInvoke({}, { id })));
        assert.equal(s.body.toString(), 'never ended');
        assert.equal(s.last.header.type, 'stream_error');
        assert.equal(s.last.header.error_type, compat === 'v4' ? 'Error' : 'string');
        assert.equal(JSON.parse(s.last.payload).errorMessage, 'Response stream is not finished.');
      }
    });
  });

  test(`${compat}: a handler whose promise never settles keeps its stream open (ferric's deadline ends it)`, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-stream-'));
    fs.writeFileSync(
      path.join(dir, 'p.js'),
      "exports.handler = awslambda.streamifyResponse((e, s) => { s.write('p'); return new Promise(() => {}); });\n",
    );
    try {
      await withWorker({ handler: 'p.handler', cwd: dir, env: { ...STREAMING, FERRIC_NODE_COMPAT: compat } }, async (w) => {
        await w.ready();
        w.sendInvoke({});
        assert.equal((await w.frame()).header.type, 'stream_start');
        assert.equal((await w.frame()).payload.toString(), 'p');
        await delay(700);
        assert.equal(w.exitInfo, null, 'still running');
        assert.equal(w.frames.length, 3, 'ready, stream_start, one chunk; nothing else');
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${compat}: not an async handler, and a returned value`, async () => {
    await withWorker(start('index.notAsync', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      assert.equal(s.last.header.type, 'stream_error');
      assert.equal(s.last.header.error_type, compat === 'v4' ? 'Error' : 'string');
      assert.equal(JSON.parse(s.last.payload).errorMessage, 'Streaming does not support non-async handlers.');
    });
    await withWorker(start('index.returns', compat), async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      assert.equal(s.last.header.type, 'stream_end');
      await w.waitLog(/\tWARN\tStreaming handlers ignore return values\.\n/);
    });
  });

  test(`${compat}: without FERRIC_PROTOCOL_FEATURES=streaming the invocation fails with Runtime.StreamingNotSupported`, async () => {
    for (const features of [undefined, '', 'other,things']) {
      await withWorker({ handler: 'index.text', cwd: ROOT, env: { FERRIC_NODE_COMPAT: compat, FERRIC_PROTOCOL_FEATURES: features } }, async (w) => {
        await w.ready();
        const f = await w.invoke({});
        assert.equal(f.header.type, 'error');
        assert.equal(f.json.errorType, 'Runtime.StreamingNotSupported');
        assert.match(f.json.errorMessage, /"streaming" protocol feature/);
      });
    }
  });
}

test('FERRIC_PROTOCOL_FEATURES is read and removed before user code (a list: "x, streaming" streams)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-stream-'));
  fs.writeFileSync(
    path.join(dir, 'env.js'),
    "const atLoad = Object.keys(process.env).filter((k) => k.startsWith('FERRIC_'));\n" +
      "exports.handler = awslambda.streamifyResponse(async (e, s) => s.end(JSON.stringify({ atLoad, now: Object.keys(process.env).filter((k) => k.startsWith('FERRIC_')) })));\n",
  );
  try {
    await withWorker({ handler: 'env.handler', cwd: dir, env: { FERRIC_PROTOCOL_FEATURES: 'x, streaming' } }, async (w) => {
      await w.ready();
      const s = streamed(await answer(w, w.sendInvoke({})));
      assert.deepEqual(JSON.parse(s.body), { atLoad: [], now: [] });
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('v3: the next invocation waits for the event loop to drain after the stream (callbackWaitsForEmptyEventLoop); v4 does not', async () => {
  for (const compat of GENERATIONS) {
    await withWorker(start('index.lateTimer', compat), async (w) => {
      await w.ready();
      const a = streamed(await answer(w, w.sendInvoke({}, { id: 't-1' })));
      assert.equal(a.last.header.type, 'stream_end');
      w.sendInvoke({}, { id: 't-2' });
      const b = streamed(await answer(w, 't-2'));
      assert.equal(b.last.header.type, 'stream_end');
      await w.waitLog(/timer of t-2\n/);
      // the request id column says which invocation was current when the timer of t-1 fired
      const line = w.logLines().find((l) => l.endsWith('timer of t-1'));
      assert.ok(line, w.logText);
      assert.equal(line.split('\t')[1], compat === 'v3' ? 't-1' : 't-2', line);
    });
  }
});

test('v3: an exception nobody catches mid-stream ends the stream with it (stream_error), then exit 129', async () => {
  await withWorker(start('index.uncaughtMidStream', 'v3'), async (w) => {
    await w.ready();
    const s = streamed(await answer(w, w.sendInvoke({})));
    assert.equal(s.body.toString(), 'u');
    assert.equal(s.last.header.type, 'stream_error');
    assert.equal(s.last.header.error_type, 'Error');
    assert.equal(JSON.parse(s.last.payload).errorMessage, 'uncaught mid-stream');
    assert.equal((await w.exit()).code, 129);
  });
});

test('v3: a non-JSON event fails on the stream (SyntaxError); v4 crashes before the stream exists', async () => {
  await withWorker(start('index.badEvent', 'v3'), async (w) => {
    await w.ready();
    const s = streamed(await answer(w, w.sendInvoke('not json')));
    assert.equal(s.last.header.error_type, 'SyntaxError');
  });
  await withWorker(start('index.badEvent', 'v4'), async (w) => {
    await w.ready();
    w.sendInvoke('not json');
    assert.equal((await w.exit()).code, 1);
    assert.equal(w.frames.length, 1, 'no frame after ready');
  });
});
