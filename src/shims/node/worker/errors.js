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
class InvalidStreamingOperation extends Error {}
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
// ferric-specific: a ferric without streamed responses (FERRIC_PROTOCOL_FEATURES lacks
// "streaming") cannot run response streaming handlers.
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
  InvalidStreamingOperation,
  NodeJsExit,
  UnhandledPromiseRejection,
  StreamingNotSupported,
  CallbackHandlerDeprecated,
  JSONStringifyError,
  PlatformError,
};
for (const E of Object.values(classes)) E.prototype.name = `Runtime.${E.name}`;

// v4's error classes (dist/utils/errors.js) differ in what logs show: the class names (the
// "errorType" of JSON log lines is the constructor's name) and `name`, an own enumerable property
// set by each constructor (TEXT "Init Error"/"Invoke Error" lines list it after "code").
function v4Class(className, name, init) {
  const made = {
    [className]: class extends Error {
      constructor(arg) {
        super(init ? init(arg) : arg);
        this.name = name;
      }
    },
  };
  return made[className];
}
const v4 = {
  NativeClientLoading: v4Class('NativeClientLoadingError', 'Runtime.NativeClientLoading'),
  HandlerNotFound: v4Class('HandlerNotFoundError', 'Runtime.HandlerNotFound'),
  MalformedHandlerName: v4Class('MalformedHandlerNameError', 'Runtime.MalformedHandlerName'),
  ImportModuleError: v4Class('ImportModuleError', 'Runtime.ImportModuleError', String),
  UserCodeSyntaxError: (() => {
    const C = v4Class('UserCodeSyntaxError', 'Runtime.UserCodeSyntaxError', String);
    return class UserCodeSyntaxError extends C {
      constructor(originalError) {
        super(originalError);
        this.stack = originalError.stack;
      }
    };
  })(),
  InvalidStreamingOperation: v4Class('InvalidStreamingOperation', 'Runtime.InvalidStreamingOperation'),
  MalformedStreamingHandler: v4Class('MalformedStreamingHandler', 'Runtime.MalformedStreamingHandler'),
  JSONStringifyError: v4Class('JSONStringifyError', 'Runtime.JSONStringifyError', (m) =>
    m === undefined ? 'Unable to stringify response body' : m,
  ),
  PlatformError: v4Class('PlatformError', 'Runtime.PlatformError'),
  CallbackHandlerDeprecated: v4Class('CallbackHandlerDeprecatedError', 'Runtime.CallbackHandlerDeprecated'),
  // ferric-specific, in the v4 style
  StreamingNotSupported: v4Class('StreamingNotSupported', 'Runtime.StreamingNotSupported'),
};

const STREAMING_NOT_SUPPORTED =
  'Response streaming (awslambda.streamifyResponse) is not supported by ferric without the "streaming" protocol feature (FERRIC_PROTOCOL_FEATURES); return the response from a buffered handler instead.';

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
  v4,
  STREAMING_NOT_SUPPORTED,
  HANDLED_MESSAGE,
  escapeDel,
  looksLikeError,
  formatForLog,
  xrayCause,
};
