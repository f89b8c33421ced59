'use strict';
// Response streaming (awslambda.streamifyResponse) over ferric's stream frames (docs/PROTOCOL.md,
// "Streamed responses"), the way aws-lambda-ric streams.
//
// aws-lambda-ric hands a streaming handler a wrapper around a node:http ClientRequest: the
// streamed POST /runtime/invocation/{id}/response, with Lambda-Runtime-Function-Response-Mode:
// streaming, the Trailer declaration and a Content-Type. The shim builds that same request
// with the same code (createResponseStream below; v3.js and v4.js pass what differs between the
// generations), but on a FrameSocket instead of a TCP connection. The socket reads the HTTP/1.1
// bytes Node writes and turns them into frames:
//
//   the request head               -> stream_start, content_type = the head's Content-Type
//   the data of each chunk         -> stream_chunk (1 MiB at most; data written in one go by
//                                     Node, e.g. several writes of one tick, is one frame)
//   the last chunk, no trailers    -> stream_end
//   the last chunk with trailers   -> stream_error: error_type = Lambda-Runtime-Function-Error-Type,
//                                     payload = base64-decoded Lambda-Runtime-Function-Error-Body
//
// and, once the request is complete, answers it like RAPID (202 {"status":"OK"}), which is what
// aws-lambda-ric waits for before it takes the next invocation. So everything the handler sees is
// what node:http does under aws-lambda-ric: the head goes out with the first write or the end,
// write() returns false above the socket's highWaterMark (streamifyResponse's option) and 'drain'
// follows, end(chunk) bypasses the patched write(), writes after end() fail, setContentType()
// after the first write is "too late", HttpResponseStream's prelude precedes the first write.
//
// Frames are written synchronously (protocol.js): a handler that writes faster than ferric (and
// the platform behind it) takes the bytes blocks in write's flush, so nothing piles up in the
// worker beyond what node:http itself buffers before 'drain'.

// node:http costs ~1 ms to load: it is loaded with the first streamed response, off cold start.
let httpModule = null;
const http = () => httpModule || (httpModule = require('http'));
const { Duplex } = require('stream');

const HEADER_RESPONSE_MODE = 'Lambda-Runtime-Function-Response-Mode';
const VALUE_STREAMING = 'streaming';
const TRAILER_NAME_ERROR_TYPE = 'Lambda-Runtime-Function-Error-Type';
const TRAILER_NAME_ERROR_BODY = 'Lambda-Runtime-Function-Error-Body';
const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const STATUS_READY = 'ready';
const STATUS_WRITE_CALLED = 'write_called';

const MAX_HEAD_LINE = 64 * 1024;
// RAPID's answer to a complete streamed response.
const ACCEPTED_BODY = '{"status":"OK"}';
const RAPID_ACCEPTED = Buffer.from(
  'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${ACCEPTED_BODY.length}\r\n\r\n${ACCEPTED_BODY}`,
  'latin1',
);

/**
 * The "connection" of one streamed response: parses the HTTP/1.1 request node:http writes
 * (head, then chunked or Content-Length body, then trailers) and hands its parts to `sink`:
 * start(contentType), chunk(bytes), end(trailers: {lower-case name: value}).
 */
class FrameSocket extends Duplex {
  constructor(sink, highWaterMark) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
    this.sink = sink;
    this.state = 'head';
    this.line = [];
    this.lineLength = 0;
    this.requestLine = null;
    this.headers = {};
    this.trailers = {};
    this.chunked = false;
    this.remaining = 0;
    this.data = [];
    this.started = false;
    this.complete = false;
    this.aborted = false;
    this.answered = false;
    // what node:http and its Agent look at or call on a net.Socket
    this.connecting = false;
    this.remoteAddress = '127.0.0.1';
    this.remotePort = 9001;
    this.timeout = 0;
  }

  setKeepAlive() {
    return this;
  }

  setNoDelay() {
    return this;
  }

  setTimeout(ms) {
    this.timeout = ms;
    return this;
  }

  ref() {
    return this;
  }

  unref() {
    return this;
  }

  _read() {}

  _write(chunk, _encoding, callback) {
    this.feed(chunk);
    this.flushData();
    callback();
  }

  _writev(chunks, callback) {
    for (const { chunk } of chunks) this.feed(chunk);
    this.flushData();
    callback();
  }

  _destroy(err, callback) {
    if (!this.complete) {
      this.flushData();
      this.aborted = true;
    }
    callback(err);
  }

  /** RAPID's 202 (once). Normally after the request is complete; see answerEarly(). */
  answer() {
    if (this.answered || this.destroyed) return false;
    this.answered = true;
    this.push(RAPID_ACCEPTED);
    return true;
  }

  flushData() {
    if (this.data.length === 0) return;
    const bytes = this.data.length === 1 ? this.data[0] : Buffer.concat(this.data);
    this.data = [];
    if (bytes.length > 0) this.sink.chunk(bytes);
  }

  // One line (without "\r\n") of the head, a chunk size or a trailer; null when incomplete.
  takeLine(buf, off) {
    const nl = buf.indexOf(10, off);
    const end = nl < 0 ? buf.length : nl;
    this.line.push(buf.subarray(off, end));
    this.lineLength += end - off;
    if (this.lineLength > MAX_HEAD_LINE) throw new Error('streamed response: HTTP line too long');
    if (nl < 0) return { line: null, next: buf.length };
    let line = Buffer.concat(this.line).toString('latin1');
    this.line = [];
    this.lineLength = 0;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    return { line, next: nl + 1 };
  }

  feed(buf) {
    let off = 0;
    while (off < buf.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, buf.length - off);
        this.data.push(buf.subarray(off, off + n));
        off += n;
        this.remaining -= n;
        if (this.remaining === 0) {
          if (this.chunked) this.state = 'crlf';
          else this.finish();
        }
        continue;
      }
      const { line, next } = this.takeLine(buf, off);
      off = next;
      if (line === null) break;
      this.onLine(line);
    }
  }

  onLine(line) {
    switch (this.state) {
      case 'head':
        if (this.requestLine === null) {
          this.requestLine = line;
        } else if (line !== '') {
          const colon = line.indexOf(':');
          this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        } else {
          this.headEnd();
        }
        break;
      case 'size': {
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (!(size >= 0)) throw new Error(`streamed response: bad chunk size ${JSON.stringify(line)}`);
        if (size === 0) {
          this.state = 'trailers';
        } else {
          this.remaining = size;
          this.state = 'data';
        }
        break;
      }
      case 'crlf':
        this.state = 'size';
        break;
      case 'trailers':
        if (line === '') {
          this.finish();
        } else {
          const colon = line.indexOf(':');
          this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        break;
      default:
        break;
    }
  }

  headEnd() {
    const te = this.headers['transfer-encoding'];
    this.chunked = te !== undefined && /chunked/i.test(te);
    this.started = true;
    this.sink.start(this.headers['content-type'] ?? DEFAULT_CONTENT_TYPE);
    if (this.chunked) {
      this.state = 'size';
      return;
    }
    this.remaining = parseInt(this.headers['content-length'], 10) || 0;
    if (this.remaining > 0) this.state = 'data';
    else this.finish();
  }

  finish() {
    this.flushData();
    this.state = 'done';
    this.complete = true;
    this.sink.end(this.trailers);
    setImmediate(() => this.answer());
  }
}

/** The frames of one invocation's stream, through the WorkerLoop. */
function frameSink(loop, inv) {
  return {
    start(contentType) {
      loop.streamStart(inv, contentType);
    },
    chunk(bytes) {
      loop.streamChunk(inv, bytes);
    },
    end(trailers) {
      const type = trailers[TRAILER_NAME_ERROR_TYPE.toLowerCase()];
      if (type === undefined) {
        loop.streamEnd(inv);
      } else {
        const body = trailers[TRAILER_NAME_ERROR_BODY.toLowerCase()] || '';
        loop.streamError(inv, type, Buffer.from(body, 'base64'));
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// aws-lambda-ric's ResponseStream (v3 ResponseStream.js, v4 dist/stream/response-stream.js)

const failProps = new WeakMap();

/** Ends the stream with the error trailers (true), or false when `stream` is not a response stream. */
function tryCallFail(stream, err, callback) {
  const fail = failProps.get(stream);
  if (typeof fail === 'function') {
    return fail(err, callback);
  }
  return false;
}

// The object the handler gets: only these members of the ClientRequest.
function writableStreamOnly(inner, shape) {
  const stream = Object.fromEntries(shape.methods.map((fn) => [fn, inner[fn].bind(inner)]));
  for (const prop of shape.readWrite) {
    Object.defineProperty(stream, prop, {
      get() {
        return inner[prop];
      },
      set(value) {
        inner[prop] = value;
      },
    });
  }
  for (const prop of shape.readOnly) {
    Object.defineProperty(stream, prop, {
      get() {
        return inner[prop];
      },
    });
  }
  return stream;
}

/**
 * The streamed response of `inv`: { request (what the handler writes to), responseDone (RAPID's
 * answer), answerEarly() }. `flavour` is the generation's (v3.js, v4.js):
 *   headers(contentType)  the request headers
 *   isRaw(chunk)          whether write() passes a chunk as it is (else JSON.stringify)
 *   shape                 the wrapper's {methods, readWrite, readOnly}
 *   patchEnd              v3 replaces end() by (cb) => end(cb)
 *   errorBody(err)        the trailer's error JSON
 *   asyncFail             v4's fail() is async and resolves when the request has ended
 *   InvalidStreamingOperation   the error class
 */
function createResponseStream(loop, inv, flavour, highWaterMark) {
  let status = STATUS_READY;
  const sink = frameSink(loop, inv);
  let socket = null;
  const agent = new (http().Agent)({ keepAlive: true, maxSockets: 1 });
  agent.createConnection = () => {
    socket = new FrameSocket(sink, highWaterMark);
    return socket;
  };
  // headersDone is never awaited there either: a request error is an unhandled rejection
  let headersDoneResolve;
  let headersDoneReject;
  const headersDone = new Promise((resolve, reject) => {
    headersDoneResolve = resolve;
    headersDoneReject = reject;
  });
  let responseDoneResolve;
  let responseDoneReject;
  const responseDone = new Promise((resolve, reject) => {
    responseDoneResolve = resolve;
    responseDoneReject = reject;
  });
  const req = http().request(
    {
      method: 'POST',
      hostname: '127.0.0.1',
      port: 9001,
      path: '/2018-06-01/runtime/invocation/' + encodeURIComponent(inv.id) + '/response',
      headers: flavour.headers(),
      agent,
    },
    (res) => {
      headersDoneResolve({ statusCode: res.statusCode, statusMessage: res.statusMessage, headers: res.headers });
      let buf;
      res.on('data', (chunk) => {
        buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
      });
      res.on('aborted', (err) => {
        responseDoneReject(err);
        req.destroy(err);
      });
      res.on('end', () => responseDoneResolve(buf));
    },
  );
  req.on('error', (err) => {
    headersDoneReject(err);
    responseDoneReject(err);
    req.destroy(err);
  });
  if (flavour.patchEnd) {
    const origEnd = req.end.bind(req);
    req.end = function (cb) {
      origEnd(cb);
    };
  }
  req.setContentType = function (contentType) {
    if (status !== STATUS_READY) {
      throw new flavour.InvalidStreamingOperation('Cannot set content-type, too late.');
    }
    req.setHeader('Content-Type', contentType);
  };
  const origWrite = req.write.bind(req);
  req.write = function (chunk, encoding, callback) {
    void chunk.length; // read there for a verbose log line: write(null) throws a TypeError
    if (!flavour.isRaw(chunk)) {
      chunk = JSON.stringify(chunk);
    }
    if (status === STATUS_READY && typeof req._onBeforeFirstWrite === 'function') {
      req._onBeforeFirstWrite((ch) => origWrite(ch));
    }
    const ret = origWrite(chunk, encoding, callback);
    if (status === STATUS_READY) {
      status = STATUS_WRITE_CALLED;
    }
    return ret;
  };
  const request = writableStreamOnly(req, flavour.shape);

  // The request can no longer reach ferric through node:http (the socket was destroyed before the
  // end): the error goes to ferric directly, as the trailers aws-lambda-ric would have sent.
  const failDirect = (error) => {
    if (!socket || !socket.started) sink.start(req.getHeader('Content-Type') ?? DEFAULT_CONTENT_TYPE);
    loop.streamError(inv, String(error.errorType), Buffer.from(JSON.stringify(error)));
  };
  const fail = (err, callback) => {
    const error = flavour.errorBody(err);
    if (socket && socket.aborted) {
      failDirect(error);
      if (flavour.asyncFail) return Promise.resolve(true);
      if (callback) setImmediate(callback);
      return true;
    }
    req.addTrailers({
      [TRAILER_NAME_ERROR_TYPE]: error.errorType,
      [TRAILER_NAME_ERROR_BODY]: Buffer.from(JSON.stringify(error)).toString('base64'),
    });
    if (flavour.asyncFail) {
      return new Promise((resolve) => req.end(resolve)).then(() => true);
    }
    req.end(callback);
    return true;
  };
  failProps.set(request, fail);

  return {
    request,
    headersDone,
    responseDone,
    /**
     * The event loop has drained with the request still open: nothing can end it any more.
     * aws-lambda-ric would wait for RAPID's answer until the function times out; here RAPID
     * "answers" now (once), so aws-lambda-ric's own check for an unfinished stream runs
     * ("Response stream is not finished."). The answer comes on the next turn of the loop (so
     * the loop runs again and drains again afterwards). False if there is nothing to answer.
     */
    answerEarly() {
      if (!socket || socket.complete || socket.aborted || socket.answered) return false;
      setImmediate(() => socket.answer());
      return true;
    },
    /** Whether the request is still open (neither complete nor cut off). */
    isOpen() {
      return socket !== null && !socket.complete && !socket.aborted;
    },
  };
}

module.exports = {
  HEADER_RESPONSE_MODE,
  VALUE_STREAMING,
  TRAILER_NAME_ERROR_TYPE,
  TRAILER_NAME_ERROR_BODY,
  DEFAULT_CONTENT_TYPE,
  FrameSocket,
  createResponseStream,
  tryCallFail,
};
