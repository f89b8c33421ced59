'use strict';
// Errors as aws-lambda-ric reports them (v3 Errors.js / XRayError.js, v4 dist/utils/error(s).js
// and xray.js): the Runtime.* error classes, the parts of error bodies and "Invoke Error" log
// lines both generations share, and the X-Ray cause document. Where the generations differ
// (which values count as errors, how a stack line is split) v3.js and v4.js pass their own.

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class MalformedStreamingHandler extends Error {}
class NodeJsExit extends Error {
  constructor() {
    super(
      'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
    );
  }
}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
// ferric-specific: response streaming handlers are recognised but not supported yet.
class StreamingNotSupported extends Error {}
// v4-only
class CallbackHandlerDeprecated extends Error {}
class JSONStringifyError extends Error {}
class PlatformError extends Error {}

const classes = {
  ImportModuleError,
  HandlerNotFound,
  MalformedHandlerName,
  UserCodeSyntaxError,
  MalformedStreamingHandler,
  NodeJsExit,
  UnhandledPromiseRejection,
  StreamingNotSupported,
  CallbackHandlerDeprecated,
  JSONStringifyError,
  PlatformError,
};
for (const E of Object.values(classes)) E.prototype.name = `Runtime.${E.name}`;

const STREAMING_NOT_SUPPORTED =
  'Response streaming (awslambda.streamifyResponse) is not supported by ferric yet; return the response from a buffered handler instead.';

// The body when reading the error's name, message or stack throws.
const HANDLED_MESSAGE =
  'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack';

// DEL is not allowed in HTTP headers; aws-lambda-ric writes it as %7F in error bodies.
const DEL = /\x7F/g;
const escapeDel = (s) => s?.replace(DEL, '%7F');

function looksLikeError(o) {
  return (
    o &&
    o.name &&
    o.message &&
    o.stack &&
    typeof o.name === 'string' &&
    typeof o.message === 'string' &&
    typeof o.stack === 'string'
  );
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') ret.stack = value.stack.split('\n');
    return ret;
  }
  return value;
}

/**
 * The JSON after "Invoke Error \t" (and the other TEXT-format error log lines): the error with
 * its own enumerable properties; `errorBody` (the generation's error body) when that fails.
 */
function formatForLog(error, errorBody) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(errorBody(error));
  }
}

/**
 * The X-Ray cause document (the Lambda-Runtime-Function-XRay-Error-Cause header), or '' when it
 * cannot be built. `parseStackLine` turns one "    at ..." line into [label, "path:line:col"].
 */
function xrayCause(err, parseStackLine) {
  try {
    const stack = [];
    if (err.stack) {
      const lines = err.stack.replace(DEL, '%7F').split('\n');
      lines.shift();
      for (const raw of lines) {
        const [label, file] = parseStackLine(raw);
        const parts = file.split(':');
        stack.push({ path: parts[0], line: parseInt(parts[1]), label });
      }
    }
    const doc = {
      working_directory: process.cwd(),
      exceptions: [{ type: escapeDel(err.name), message: escapeDel(err.message), stack }],
      paths: Array.from(new Set(stack.map((e) => e.path))),
    };
    return JSON.stringify(doc);
  } catch (_) {
    return '';
  }
}

module.exports = {
  ...classes,
  STREAMING_NOT_SUPPORTED,
  HANDLED_MESSAGE,
  escapeDel,
  looksLikeError,
  formatForLog,
  xrayCause,
};
