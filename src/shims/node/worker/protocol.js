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
    let headerJson = JSON.stringify(header);
    if (Buffer.byteLength(headerJson) > MAX_HEADER_OUT && header.xray_cause !== undefined) {
      delete header.xray_cause;
      headerJson = JSON.stringify(header);
    }
    const head = Buffer.from(headerJson + '\n', 'utf8');
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
    const payload = Buffer.from(body, 'utf8');
    header.len = payload.length;
    this.write(header, payload);
  }

  writeAll(buf) {
    writeFully(this.fd, buf);
  }
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

/** writeFully for several buffers: one writev while everything fits, the rest as it comes. */
function writevFully(fd, bufs) {
  let n;
  for (;;) {
    try {
      n = fs.writevSync(fd, bufs);
      break;
    } catch (e) {
      if (mustRetry(e)) {
        sleep(1);
        continue;
      }
      throw e;
    }
  }
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    writeFully(fd, n === 0 ? b : b.subarray(n));
    n = 0;
  }
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

/**
 * Frames from ferric on fd 0, read incrementally and bounded: a header line of at most
 * MAX_HEADER_IN bytes, then exactly `len` payload bytes, then a mandatory "\n". Anything else,
 * and the end of input in the middle of a frame, is fatal (exit 2). process.stdin is only touched by start(), so the stdin handle exists only from then.
 */
class FrameReader {
  constructor(env) {
    this.maxPayload = Math.max(Number(env.FERRIC_MAX_FRAME_BYTES) || 0, MIN_PAYLOAD_LIMIT);
    this.stream = null;
    this.ended = false;
    this.chunks = [];
    this.size = 0;
    this.scanned = 0; // bytes already searched for the header's newline
    this.header = null; // header of a frame whose payload is still arriving
  }

  // While an invocation runs, stdin must not keep the event loop alive (see v3.js, beforeExit).
  ref() {
    if (this.stream && typeof this.stream.ref === 'function') this.stream.ref();
  }

  unref() {
    if (this.stream && typeof this.stream.unref === 'function') this.stream.unref();
  }

  start(onFrame, onEnd) {
    const s = process.stdin;
    this.stream = s;
    s.on('data', (chunk) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.pump(onFrame);
    });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      if (this.size > 0 || this.header !== null) {
        protocolError('stdin closed in the middle of a frame');
      }
      onEnd();
    };
    s.on('end', end);
    s.on('close', end);
    s.on('error', end);
  }

  take(n) {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    this.scanned = 0;
    return out;
  }

  findNewline() {
    let base = 0;
    for (const c of this.chunks) {
      if (base + c.length > this.scanned) {
        const i = c.indexOf(10, Math.max(this.scanned - base, 0));
        if (i >= 0) return base + i;
      }
      base += c.length;
    }
    this.scanned = base;
    return -1;
  }

  pump(onFrame) {
    for (;;) {
      if (this.header === null) {
        const nl = this.findNewline();
        if (nl < 0) {
          if (this.size > MAX_HEADER_IN) protocolError('frame header longer than 1 MiB');
          return;
        }
        if (nl > MAX_HEADER_IN) protocolError('frame header longer than 1 MiB');
        const line = this.take(nl + 1).toString('utf8', 0, nl);
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
          continue;
        }
        if (!Number.isSafeInteger(h.len) || h.len < 0 || h.len > this.maxPayload) {
          return protocolError(`bad payload length ${JSON.stringify(h.len)}`);
        }
        this.header = h;
      }
      if (this.size < this.header.len + 1) return;
      const payload = Buffer.from(this.take(this.header.len)); // own copy, detached from the read buffer
      if (this.take(1)[0] !== 10) protocolError('payload not followed by "\\n"');
      const h = this.header;
      this.header = null;
      onFrame(h, payload);
    }
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
