'use strict';
// Console patching like aws-lambda-ric (v3 LogPatch.js, v4 dist/logging): console.* write one
// record per call, TEXT
//   <ISO time>\t<requestId>\t<LEVEL>\t<util.format(...)>
// or, with AWS_LAMBDA_LOG_FORMAT=JSON, {"timestamp","level","requestId",...}, to one target:
//   stdout     process.stdout (fd 1, the log pipe; never the frame channel), every "\n" turned
//              into "\r", then "\n"
//   telemetry  the telemetry descriptor (_LAMBDA_TELEMETRY_LOG_FD): one frame per record,
//              type u32 BE (0xA55A0003 TEXT / 0xA55A0002 JSON, | the level's mask), length u32 BE,
//              timestamp i64 BE (microseconds), the message ("\n" kept; TEXT ends with one)
//   socket     v4 with AWS_LAMBDA_MAX_CONCURRENCY: JSON lines ("\n" -> "\r") on a connection to
//              _LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET (or on fd 1 without one)
// What differs between the generations (and which target) is passed in by v3.js and v4.js.
// process.stdout.write is never redirected: it stays on fd 1, as there.

const util = require('util');
const { formatForLog } = require('./errors');
const { writeFully } = require('./protocol');

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1, tlvMask: 4 },
  DEBUG: { name: 'DEBUG', priority: 2, tlvMask: 8 },
  INFO: { name: 'INFO', priority: 3, tlvMask: 12 },
  WARN: { name: 'WARN', priority: 4, tlvMask: 16 },
  ERROR: { name: 'ERROR', priority: 5, tlvMask: 20 },
  FATAL: { name: 'FATAL', priority: 6, tlvMask: 24 },
});

const FRAME_TYPE_TEXT = 0xa55a0003;
const FRAME_TYPE_JSON = 0xa55a0002;
const STDOUT = Object.freeze({ kind: 'stdout' });

/** One telemetry frame: header and message, written with one write (aws-lambda-ric uses two). */
function writeFrame(fd, type, level, date, message) {
  const messageBytes = Buffer.from(message, 'utf8');
  const frame = Buffer.allocUnsafe(16 + messageBytes.length);
  frame.writeUInt32BE((type | level.tlvMask) >>> 0, 0);
  frame.writeInt32BE(messageBytes.length, 4);
  frame.writeBigInt64BE(BigInt(date.valueOf()) * 1000n, 8);
  messageBytes.copy(frame, 16);
  writeFully(fd, frame);
}

function jsonErrorReplacer(_k, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

class Logger {
  /**
   * options (all from the generation):
   *   ids()                   -> [requestId, tenantId] of the current invocation
   *   showTenantId(tenantId)  -> whether a JSON line carries "tenantId"
   *   errorFieldsFromMessage  JSON: the error fields may come from the first argument too
   *   errorBody(error), toError(value): the generation's error body and error coercion
   */
  constructor(options) {
    this.options = options;
    this.json = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';
    this.target = STDOUT;
  }

  /** Where records go: {kind: 'stdout'}, {kind: 'telemetry', fd} or {kind: 'socket', fd}. */
  setTarget(target) {
    this.target = target;
  }

  formatJson(timestamp, level, requestId, tenantId, message, params) {
    const result = { timestamp, level: level.name, requestId };
    if (this.options.showTenantId(tenantId)) result.tenantId = tenantId;
    if (params.length === 0) {
      result.message = message;
      try {
        return JSON.stringify(result, jsonErrorReplacer);
      } catch (_) {
        result.message = util.format(result.message);
        return JSON.stringify(result);
      }
    }
    result.message = util.format(message, ...params);
    for (const p of this.options.errorFieldsFromMessage ? [message, ...params] : params) {
      if (p instanceof Error) {
        result.errorType = p?.constructor?.name ?? 'UnknownError';
        result.errorMessage = p.message;
        result.stackTrace = typeof p.stack === 'string' ? p.stack.split('\n') : [];
        break;
      }
    }
    return JSON.stringify(result);
  }

  write(level, message, params) {
    const date = new Date();
    const time = date.toISOString();
    const [requestId, tenantId] = this.options.ids();
    const target = this.target;
    if (target.kind === 'socket') {
      const line = this.formatJson(time, level, requestId, tenantId, message, params);
      writeFully(target.fd, Buffer.from(line.replace(/\n/g, '\r') + '\n', 'utf8'));
      return;
    }
    const line = this.json
      ? this.formatJson(time, level, requestId, tenantId, message, params)
      : `${time}\t${requestId}\t${level.name}\t${util.format(message, ...params)}`;
    if (target.kind === 'telemetry') {
      if (this.json) writeFrame(target.fd, FRAME_TYPE_JSON, level, date, line);
      else writeFrame(target.fd, FRAME_TYPE_TEXT, level, date, line + '\n');
      return;
    }
    process.stdout.write(line.replace(/\n/g, '\r') + '\n');
  }

  /** Replaces console.*; methods below minLevel become no-ops (fatal too unless fatalAlwaysOn). */
  patchConsole(minLevel, fatalAlwaysOn) {
    const nop = (_message, ..._params) => {};
    const make = (level, always) =>
      always || level.priority >= minLevel.priority
        ? (message, ...params) => this.write(level, message, params)
        : nop;
    console.trace = make(LEVELS.TRACE);
    console.debug = make(LEVELS.DEBUG);
    console.info = make(LEVELS.INFO);
    console.log = console.info;
    console.warn = make(LEVELS.WARN);
    console.error = make(LEVELS.ERROR);
    console.fatal = make(LEVELS.FATAL, fatalAlwaysOn);
  }

  /** An error the runtime reports ("Invoke Error", "Uncaught Exception", ...), via console.error. */
  error(label, err) {
    const { toError, errorBody } = this.options;
    if (this.json) console.error(toError(err));
    else console.error(label, formatForLog(toError(err), errorBody));
  }
}

/** AWS_LAMBDA_LOG_LEVEL, upper-cased (undefined when unset). */
function configuredLevel() {
  return process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase();
}

module.exports = { Logger, LEVELS, STDOUT, configuredLevel };
