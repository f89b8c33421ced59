'use strict';
// The frame channel to ferric (docs/PROTOCOL.md, worker protocol v1): frames out on
// FERRIC_PROTOCOL_FD (3), frames in on fd 0, and the fatal exit for anything that breaks the
// protocol. Nothing else in the worker writes to the frame descriptor.

const fs = require('fs');

// Header lines from ferric may be up to 1 MiB (large Lambda-Runtime-Client-Context and
// Lambda-Runtime-Cognito-Identity headers); ferric accepts at most 64 KiB from a worker.
const MAX_HEADER_IN = 1024 * 1024;
const MAX_HEADER_OUT = 64 * 1024;
// The payload bound for frames from ferric: FERRIC_MAX_FRAME_BYTES, at least 16 MiB.
const MIN_PAYLOAD_LIMIT = 16 * 1024 * 1024;

/** Reports a failure of the worker itself on stderr (the log pipe) and exits. */
function fatal(message, code) {
  try {
    fs.writeSync(2, `ferric-shim: ${message}\n`);
  } catch (_) {
    /* nothing left to report to */
  }
  process.exit(code === undefined ? 1 : code);
}

// The exit status after input from ferric that breaks the protocol (docs/PROTOCOL.md).
const PROTOCOL_ERROR_STATUS = 2;

/** Input from ferric broke the protocol: say why and exit 2. */
function protocolError(message) {
  fatal(`protocol error: ${message}`, PROTOCOL_ERROR_STATUS);
}

/** Frames to ferric. Each frame is built as one buffer and written synchronously, whole. */
class FrameWriter {
  /**
   * The descriptor named by FERRIC_PROTOCOL_FD (default 3), which is removed from the
   * environment. The pipe is reopened through /proc so the descriptor kept is close-on-exec
   * (libuv opens everything O_CLOEXEC) and the inherited one is closed: processes started by
   * user code then can neither hold the frame pipe open nor write to it. Sockets cannot be
   * reopened that way; then the inherited descriptor is used as it is.
   */
  static open(env) {
    const raw = env.FERRIC_PROTOCOL_FD;
    delete env.FERRIC_PROTOCOL_FD;
    const fd = raw === undefined || raw === '' ? 3 : Number(raw);
    if (!Number.isInteger(fd) || fd < 3) {
      fatal(
        `FERRIC_PROTOCOL_FD=${raw}: the Node shim needs a dedicated frame descriptor (3 or above); ` +
          'fd 1 cannot be protected from console output in Node',
      );
    }
    try {
      const reopened = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY);
      fs.closeSync(fd);
      return new FrameWriter(reopened);
    } catch (_) {
      return new FrameWriter(fd);
    }
  }

  constructor(fd) {
    this.fd = fd;
  }

  /** header JSON + "\n" [+ payload + "\n"]; drops xray_cause if the header would be too long. */
  write(header, payload) {
    const head = Buffer.from(headerLine(header), 'utf8');
    try {
      if (payload === undefined) {
        this.writeAll(head);
      } else if (payload.length < LARGE_PAYLOAD) {
        this.writeAll(Buffer.concat([head, payload, NEWLINE]));
      } else {
        // a large payload (a stream chunk, a big result) goes out with writev, not copied
        writevFully(this.fd, [head, payload, NEWLINE]);
      }
    } catch (e) {
      fatal(`cannot write to the frame channel (fd ${this.fd}): ${e.message}`);
    }
  }

  /** A frame whose payload is the UTF-8 text `body`; sets the header's len. */
  writeText(header, body) {
    const len = Buffer.byteLength(body, 'utf8');
    header.len = len;
    this.writeTextFrame(headerLine(header), body, len);
  }

  /**
   * The result frame of invocation `id` (docs/PROTOCOL.md): writeText's
   * {"type":"result","id":…,"content_type":"application/json","len":…}, its header line written
   * out directly (the same bytes as JSON.stringify of that object).
   */
  writeResult(id, body) {
    const len = Buffer.byteLength(body, 'utf8');
    const line = `{"type":"result","id":${JSON.stringify(id)},"content_type":"application/json","len":${len}}\n`;
    this.writeTextFrame(line, body, len);
  }

  /**
   * A frame of a header line and the payload `body` (`len` UTF-8 bytes), written as strings: the
   * write encodes them itself, with no Buffer made for them (a 1 MiB Buffer.from costs ~0.8 ms
   * more here). A small frame is one write; a large one three, so that the body is not copied
   * into one string with its header.
   */
  writeTextFrame(line, body, len) {
    try {
      if (len < LARGE_PAYLOAD) {
        writeStringFully(this.fd, line + body + '\n', Buffer.byteLength(line, 'utf8') + len + 1);
      } else {
        writeStringFully(this.fd, line, Buffer.byteLength(line, 'utf8'));
        writeStringFully(this.fd, body, len);
        writeStringFully(this.fd, '\n', 1);
      }
    } catch (e) {
      fatal(`cannot write to the frame channel (fd ${this.fd}): ${e.message}`);
    }
  }

  writeAll(buf) {
    writeFully(this.fd, buf);
  }
}

/** The header's JSON line with its "\n", without xray_cause if it would be too long with it. */
function headerLine(header) {
  const line = JSON.stringify(header) + '\n';
  // (a UTF-16 length of at most a third of the limit cannot be over it in UTF-8)
  const tooLong = line.length * 3 > MAX_HEADER_OUT && Buffer.byteLength(line) - 1 > MAX_HEADER_OUT;
  if (tooLong && header.xray_cause !== undefined) {
    delete header.xray_cause;
    return JSON.stringify(header) + '\n';
  }
  return line;
}

let sleepCell = null;
function sleep(ms) {
  if (!sleepCell) sleepCell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

// Payloads from this size on are written with writev (no copy); smaller ones are copied into
// one buffer, which costs less than the iovec setup.
const LARGE_PAYLOAD = 16 * 1024;
const NEWLINE = Buffer.from('\n');

/** A write that wrote nothing and may be tried again (a full non-blocking pipe, a signal). */
const mustRetry = (e) => e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK' || e.code === 'EINTR';

/** write(fd, data), tried again (after 1 ms) while it fails with mustRetry. */
function retrying(write, fd, data) {
  for (;;) {
    try {
      return write(fd, data);
    } catch (e) {
      if (!mustRetry(e)) throw e;
      sleep(1);
    }
  }
}

/** writeFully for several buffers: one writev while everything fits, the rest as it comes. */
function writevFully(fd, bufs) {
  let n = retrying(fs.writevSync, fd, bufs);
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    writeFully(fd, n === 0 ? b : b.subarray(n));
    n = 0;
  }
}

/** writeFully for a string of `bytes` UTF-8 bytes: one write while it fits, the rest as a Buffer. */
function writeStringFully(fd, text, bytes) {
  const n = retrying(fs.writeSync, fd, text);
  if (n < bytes) writeFully(fd, Buffer.from(text, 'utf8').subarray(n));
}

/**
 * Writes all of `buf` to `fd` synchronously, coping with partial writes and with a non-blocking
 * descriptor (EAGAIN: sleep 1-10 ms). Also used for the telemetry descriptor (logging.js).
 */
function writeFully(fd, buf) {
  let off = 0;
  let waitMs = 0;
  while (off < buf.length) {
    let n;
    try {
      n = fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (mustRetry(e)) {
        waitMs = Math.min(waitMs + 1, 10);
        sleep(waitMs);
        continue;
      }
      throw e;
    }
    waitMs = 0;
    off += n;
  }
}

// Frames from ferric arrive in reads of at most this much, into one buffer reused for every read.
const READ_BUFFER_BYTES = 64 * 1024;

/**
 * Frames from ferric on fd 0, read incrementally and bounded: a header line of at most
 * MAX_HEADER_IN bytes, then exactly `len` payload bytes, then a mandatory "\n". Anything else,
 * and the end of input in the middle of a frame, is fatal (exit 2).
 *
 * fd 0 is read through a socket of its own with net.Socket's `onread` (one read buffer, reused):
 * no Buffer and no stream machinery per read. Frames are parsed straight out of the read buffer;
 * only a header split across reads is copied, and a payload is copied once, into a buffer of its
 * own allocated when its header arrives. process.stdin then returns this socket, so that user code
 * touching it cannot open a second handle on fd 0. Nothing reads fd 0 before start().
 */
class FrameReader {
  constructor(env) {
    this.maxPayload = Math.max(Number(env.FERRIC_MAX_FRAME_BYTES) || 0, MIN_PAYLOAD_LIMIT);
    this.socket = null;
    this.ended = false;
    this.headPart = null; // the start of a header line that a read split (own copy)
    this.header = null; // header of a frame whose payload is still arriving
    this.payload = null; // its payload buffer, filled up to this.filled
    this.filled = 0;
  }

  // While an invocation runs, fd 0 must not keep the event loop alive (see v3.js, beforeExit).
  ref() {
    if (this.socket) this.socket.ref();
  }

  unref() {
    if (this.socket) this.socket.unref();
  }

  start(onFrame, onEnd) {
    const onread = {
      buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
      callback: (n, buf) => {
        this.consume(buf, n, onFrame);
      },
    };
    let socket;
    try {
      socket = new (require('net').Socket)({ fd: 0, readable: true, writable: false, onread });
    } catch (e) {
      fatal(`fd 0 is not the pipe ferric writes frames to (${e.message}); start the worker through ferric`);
    }
    socket.fd = 0; // as on Node's own process.stdin
    this.socket = socket;
    Object.defineProperty(process, 'stdin', { configurable: true, enumerable: true, get: () => socket });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      if (this.headPart !== null || this.header !== null) {
        protocolError('stdin closed in the middle of a frame');
      }
      onEnd();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Parses bytes 0..n of the read buffer `buf` (valid only during this call). */
  consume(buf, n, onFrame) {
    let off = 0;
    while (off < n) {
      if (this.header === null) {
        off = this.headerFrom(buf, off, n, onFrame);
        if (off < 0) return;
        continue;
      }
      const take = Math.min(this.header.len - this.filled, n - off);
      buf.copy(this.payload, this.filled, off, off + take);
      this.filled += take;
      off += take;
      if (this.filled < this.header.len || off >= n) return; // the rest (or its "\n") comes later
      if (buf[off] !== 10) protocolError('payload not followed by "\\n"');
      off += 1;
      const h = this.header;
      const payload = this.payload;
      this.header = null;
      this.payload = null;
      onFrame(h, payload);
    }
  }

  /**
   * Reads a header line from buf[off..n): returns where its frame's payload starts (after a frame
   * without payload has been handed on, where the next frame starts), or -1 when the line goes on
   * in the next read.
   */
  headerFrom(buf, off, n, onFrame) {
    let nl = buf.indexOf(10, off);
    if (nl >= n) nl = -1; // a newline left in the reused buffer by an earlier read
    const before = this.headPart === null ? 0 : this.headPart.length;
    if (nl < 0) {
      this.headPart = before === 0 ? Buffer.from(buf.subarray(off, n)) : Buffer.concat([this.headPart, buf.subarray(off, n)]);
      if (this.headPart.length > MAX_HEADER_IN) protocolError('frame header longer than 1 MiB');
      return -1;
    }
    if (before + nl - off > MAX_HEADER_IN) protocolError('frame header longer than 1 MiB');
    let line;
    if (before === 0) {
      line = buf.toString('utf8', off, nl);
    } else {
      line = Buffer.concat([this.headPart, buf.subarray(off, nl)]).toString('utf8');
      this.headPart = null;
    }
    let h;
    try {
      h = JSON.parse(line);
    } catch (e) {
      return protocolError(`frame header is not JSON: ${e.message}`);
    }
    if (h === null || typeof h !== 'object' || Array.isArray(h) || typeof h.type !== 'string') {
      return protocolError('frame header is not an object with a "type"');
    }
    if (h.len === undefined || h.len === null) {
      onFrame(h, null);
      return nl + 1;
    }
    if (!Number.isSafeInteger(h.len) || h.len < 0 || h.len > this.maxPayload) {
      return protocolError(`bad payload length ${JSON.stringify(h.len)}`);
    }
    this.header = h;
    this.payload = Buffer.allocUnsafe(h.len);
    this.filled = 0;
    return nl + 1;
  }
}

module.exports = {
  FrameWriter,
  FrameReader,
  fatal,
  protocolError,
  writeFully,
  MAX_HEADER_IN,
  MAX_HEADER_OUT,
};
