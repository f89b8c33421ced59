'use strict';
// Console patching like aws-lambda-ric (v3 LogPatch.js, v4 dist/logging): console.* write one
// line per call to process.stdout (fd 1, the log pipe; never the frame channel), TEXT
//   <ISO time>\t<requestId>\t<LEVEL>\t<util.format(...)>
// or, with AWS_LAMBDA_LOG_FORMAT=JSON, {"timestamp","level","requestId",...}, every "\n" turned
// into "\r". What differs between the generations is passed in by v3.js and v4.js.

const util = require('util');
const { formatForLog } = require('./errors');

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

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
    const time = new Date().toISOString();
    const [requestId, tenantId] = this.options.ids();
    const line = this.json
      ? this.formatJson(time, level, requestId, tenantId, message, params)
      : `${time}\t${requestId}\t${level.name}\t${util.format(message, ...params)}`;
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

module.exports = { Logger, LEVELS, configuredLevel };
