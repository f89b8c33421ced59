'use strict';
// The worker's side of the protocol, the same for both generations: ready, invocations strictly
// one at a time, answers, shutdown, end of input. The generation's runtime (v3.js, v4.js) runs
// each invocation and answers through this object.
//
// Only the current, unanswered invocation is ever answered. Anything else (a late callback, an
// error after the answer) is dropped, because a frame for another id is a protocol violation.

const { protocolError } = require('./protocol');

// At most this much payload per stream_chunk frame (docs/PROTOCOL.md).
const MAX_STREAM_CHUNK = 1024 * 1024;
const { Invocation } = require('./invocation');
const { xrayCause } = require('./errors');

class WorkerLoop {
  /**
   * options:
   *   channel    the FrameWriter (frames to ferric)
   *   reader     the FrameReader (frames from ferric; started by start())
   *   compat     'v3' | 'v4', for the ready frame
   *   startedAt  Date.now() when the worker started, for the ready frame's init_ms
   *   errorBody(error), parseStackLine(line), serializeResult(result): the generation's
   *   streaming  whether ferric takes streamed responses (FERRIC_PROTOCOL_FEATURES has "streaming")
   */
  constructor(options) {
    this.channel = options.channel;
    this.reader = options.reader;
    this.compat = options.compat;
    this.startedAt = options.startedAt;
    this.errorBody = options.errorBody;
    this.parseStackLine = options.parseStackLine;
    this.serializeResult = options.serializeResult;
    this.streaming = Boolean(options.streaming);
    this.runtime = null;
    this.current = null; // the last invocation started (answered or not)
    this.queue = [];
    this.readySent = false;
    this.shuttingDown = false;
    this.nextTurn = () => this.next(); // one function for every setImmediate
  }

  canAnswer(inv) {
    return inv !== null && inv === this.current && !inv.answered;
  }

  postInvocationResponse(result, inv, callback) {
    const body = this.serializeResult(result); // may throw, like aws-lambda-ric
    if (!this.canAnswer(inv)) return;
    inv.answered = true;
    this.channel.writeResult(inv.id, body);
    if (callback) callback();
  }

  postInvocationError(error, inv, callback) {
    const response = this.errorBody(error);
    if (this.streamIsOpen(inv)) {
      // v3's crash hooks during a stream: the error ends the stream (only stream frames may
      // follow stream_start); aws-lambda-ric would post it to /error beside the open stream.
      this.streamError(inv, String(response.errorType), Buffer.from(JSON.stringify(response)));
      if (callback) callback();
      return;
    }
    if (!this.canAnswer(inv)) return;
    inv.answered = true;
    const header = { type: 'error', id: inv.id, error_type: String(response.errorType) };
    const cause = xrayCause(error, this.parseStackLine);
    if (cause) header.xray_cause = cause;
    this.channel.writeText(header, JSON.stringify(response));
    if (callback) callback();
  }

  // ---- streamed responses (streaming.js turns the handler's HTTP request into these) --------

  streamIsOpen(inv) {
    return inv !== null && inv === this.current && inv.streamOpen === true;
  }

  /** stream_start: the invocation's answer begins. */
  streamStart(inv, contentType) {
    if (!this.canAnswer(inv)) return false;
    inv.answered = true;
    inv.streamOpen = true;
    this.channel.write({ type: 'stream_start', id: inv.id, content_type: contentType });
    return true;
  }

  /** stream_chunk frames of at most 1 MiB each. */
  streamChunk(inv, bytes) {
    if (!this.streamIsOpen(inv)) return;
    for (let off = 0; off < bytes.length; off += MAX_STREAM_CHUNK) {
      const piece = bytes.subarray(off, Math.min(off + MAX_STREAM_CHUNK, bytes.length));
      this.channel.write({ type: 'stream_chunk', id: inv.id, len: piece.length }, piece);
    }
  }

  streamEnd(inv) {
    if (!this.streamIsOpen(inv)) return;
    inv.streamOpen = false;
    this.channel.write({ type: 'stream_end', id: inv.id });
  }

  /** stream_error: error_type and the error JSON become ferric's error trailers. */
  streamError(inv, errorType, body) {
    if (!this.streamIsOpen(inv)) return;
    inv.streamOpen = false;
    this.channel.write({ type: 'stream_error', id: inv.id, error_type: errorType, len: body.length }, body);
  }

  postInitError(error) {
    const response = this.errorBody(error);
    this.channel.writeText(
      { type: 'init_error', error_type: String(response.errorType) },
      JSON.stringify(response),
    );
  }

  sendReady() {
    this.readySent = true;
    this.channel.write({
      type: 'ready',
      protocol: 1,
      pid: process.pid,
      runtime: `node ${process.versions.node}`,
      executable: process.execPath,
      compat: `aws-lambda-ric ${this.compat}`,
      init_ms: Date.now() - this.startedAt,
    });
  }

  /**
   * The next invocation (if one is queued) starts on the next turn of the event loop. A streamed
   * invocation is answered before its runtime is done with it (holdNext): only this releases it.
   */
  scheduleIteration() {
    if (this.current) this.current.holdNext = false;
    this.kick();
  }

  kick() {
    // while a streamed invocation is held, stdin stays unref()ed: its runtime may be waiting for
    // the event loop to drain (v3's callbackWaitsForEmptyEventLoop) before it takes the next one
    if (this.current && this.current.holdNext) return;
    if (!this.shuttingDown) this.reader.ref();
    // with nothing queued there is nothing to start: the next invoke frame kicks again
    if (this.queue.length > 0) setImmediate(this.nextTurn);
  }

  /** Keeps the process alive (stdin referenced) while an invocation waits for nothing. */
  keepAlive() {
    this.reader.ref();
  }

  next() {
    const busy = this.current && (!this.current.answered || this.current.holdNext);
    if (this.shuttingDown || busy || this.queue.length === 0) return;
    const { header, payload } = this.queue.shift();
    const inv = new Invocation(header, payload);
    this.current = inv;
    // Our own stdin handle must not keep the event loop alive while the handler runs, so that
    // 'beforeExit' fires exactly when the user's work has drained (callbackWaitsForEmptyEventLoop).
    this.reader.unref();
    this.runtime.handleOnce(inv).then(
      () => {},
      (err) => this.runtime.onTopLevelError(err),
    );
  }

  onFrame(header, payload) {
    if (this.shuttingDown) return;
    if (header.type === 'shutdown') return this.shutdown();
    if (header.type !== 'invoke') return; // unknown types from ferric are ignored
    if (typeof header.id !== 'string' || header.id === '') {
      protocolError('invoke frame without an id');
    }
    if ((this.current && !this.current.answered) || this.queue.length > 0) {
      protocolError('invoke received while another invocation is in progress');
    }
    this.queue.push({ header, payload });
    this.kick();
  }

  shutdown() {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    if (process.listenerCount('SIGTERM') === 0) process.exit(0);
    // Run the user's SIGTERM handlers (Lambda's graceful-shutdown hook), then exit 0 once the
    // event loop drains unless they exit themselves.
    this.reader.unref();
    process.emit('SIGTERM', 'SIGTERM');
  }

  /** After the handler is loaded: ready goes out and frames are read from the next turn on. */
  start(runtime) {
    this.runtime = runtime;
    process.on('beforeExit', () => {
      if (this.shuttingDown) return process.exit(0);
      const inv = this.current;
      // a streamed invocation keeps its listener after stream_start (it is answered by then)
      if (inv && inv.beforeExit && (!inv.answered || inv.holdNext)) {
        const listener = inv.beforeExit;
        listener(inv);
      }
      // otherwise the loop drained with nothing to wait for (stdin closed, or v4 with a promise
      // that never settles): let the process exit like aws-lambda-ric's would.
    });
    // Like aws-lambda-ric's scheduleIteration: ready goes out on the next turn of the loop, so
    // rejections left by module initialisation are still reported as init errors.
    setImmediate(() => {
      this.reader.start(
        (header, payload) => this.onFrame(header, payload),
        () => {
          if (!this.shuttingDown) process.exit(0);
        },
      );
      this.sendReady();
    });
  }
}

module.exports = { WorkerLoop };
