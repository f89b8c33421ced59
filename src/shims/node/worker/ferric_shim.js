'use strict';
// ferric Node.js worker shim: speaks ferric worker protocol v1 (docs/PROTOCOL.md) and runs a
// Lambda Node.js handler the way aws-lambda-ric does (v3 semantics on Node <= 23, v4 on >= 24).
//
// Started by ferric as:
//   node --input-type=commonjs -e <this file's text> -- <handler>
// with fd 0 = frames from ferric, fd 1 and fd 2 = the log pipe, fd 3 = frames to ferric
// (FERRIC_PROTOCOL_FD=3). It also runs as a file: node ferric_shim.js <handler>.
// Node built-ins only. See README.md next to this file for the behaviour and its sources.

const fs = require('fs');
const path = require('path');
const util = require('util');

const SHIM_START = Date.now();
const NODE_MAJOR = parseInt(process.versions.node, 10);
// FERRIC_NODE_COMPAT=v3|v4 forces a behaviour generation (used by the tests).
const COMPAT = (() => {
  const forced = process.env.FERRIC_NODE_COMPAT;
  delete process.env.FERRIC_NODE_COMPAT;
  if (forced === 'v3' || forced === 'v4') return forced;
  return NODE_MAJOR >= 24 ? 'v4' : 'v3';
})();
const V4 = COMPAT === 'v4';

const MAX_HEADER = 64 * 1024;
const DEL = /\x7F/g;

// ---------------------------------------------------------------------------------------------
// Shim plumbing: fatal errors, the frame channel (writer) and stdin (reader).

function shimFatal(message, code) {
  try {
    fs.writeSync(2, `ferric-shim: ${message}\n`);
  } catch (_) {
    /* nothing left to report to */
  }
  process.exit(code === undefined ? 1 : code);
}

// Remove `-e <source>` from process.execArgv so user code that re-spawns `node` with
// process.execArgv does not start another shim (child_process.fork already filters -e).
(function cleanExecArgv() {
  const a = process.execArgv;
  for (let i = 0; i < a.length; i++) {
    if ((a[i] === '-e' || a[i] === '--eval') && i + 1 < a.length) {
      a.splice(i, 2);
      i--;
    } else if (a[i] === '--input-type=commonjs') {
      a.splice(i, 1);
      i--;
    }
  }
})();

const frameFd = (() => {
  const raw = process.env.FERRIC_PROTOCOL_FD;
  delete process.env.FERRIC_PROTOCOL_FD;
  const fd = raw === undefined || raw === '' ? 3 : Number(raw);
  if (!Number.isInteger(fd) || fd < 3) {
    shimFatal(
      `FERRIC_PROTOCOL_FD=${raw}: the Node shim needs a dedicated frame descriptor (3 or above); ` +
        'fd 1 cannot be protected from console output in Node',
    );
  }
  // Reopen the pipe through /proc so the descriptor we keep is close-on-exec (libuv opens
  // everything O_CLOEXEC) and close the inherited one: child processes started by user code
  // then cannot hold the frame pipe open or write to it. Sockets cannot be reopened this way;
  // then the inherited descriptor is used as it is.
  try {
    const reopened = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY);
    fs.closeSync(fd);
    return reopened;
  } catch (_) {
    return fd;
  }
})();

let sleepCell = null;
function sleepMs(ms) {
  if (!sleepCell) sleepCell = new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(sleepCell, 0, 0, ms);
}

// Writes the whole buffer; copes with partial writes and with a non-blocking descriptor.
function writeAll(fd, buf) {
  let off = 0;
  let waitMs = 0;
  while (off < buf.length) {
    let n;
    try {
      n = fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN' || e.code === 'EWOULDBLOCK' || e.code === 'EINTR') {
        waitMs = Math.min(waitMs + 1, 10);
        sleepMs(waitMs);
        continue;
      }
      throw e;
    }
    waitMs = 0;
    off += n;
  }
}

// One frame = one buffer = header JSON + "\n" [+ payload + "\n"], written in one go.
function writeFrame(header, payload) {
  let headerJson = JSON.stringify(header);
  if (Buffer.byteLength(headerJson) > MAX_HEADER && header.xray_cause !== undefined) {
    delete header.xray_cause;
    headerJson = JSON.stringify(header);
  }
  const parts = [Buffer.from(headerJson + '\n', 'utf8')];
  if (payload !== undefined) parts.push(payload, Buffer.from('\n'));
  try {
    writeAll(frameFd, parts.length === 1 ? parts[0] : Buffer.concat(parts));
  } catch (e) {
    shimFatal(`cannot write to the frame channel (fd ${frameFd}): ${e.message}`);
  }
}

function payloadFrame(header, body) {
  const payload = Buffer.from(body, 'utf8');
  header.len = payload.length;
  writeFrame(header, payload);
}

const stdin = {
  stream: null,
  ended: false,
  ref() {
    if (this.stream && typeof this.stream.ref === 'function') this.stream.ref();
  },
  unref() {
    if (this.stream && typeof this.stream.unref === 'function') this.stream.unref();
  },
};

// Incremental, bounded frame reader for fd 0.
function startReader(onFrame, onEnd) {
  let chunks = [];
  let size = 0;
  let header = null; // header of a frame whose payload is still arriving
  const maxPayload = Math.max(Number(process.env.FERRIC_MAX_FRAME_BYTES) || 0, 16 * 1024 * 1024);

  const take = (n) => {
    const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    chunks = rest.length ? [rest] : [];
    size = rest.length;
    return out;
  };
  const findNewline = () => {
    let base = 0;
    for (const c of chunks) {
      const i = c.indexOf(10);
      if (i >= 0) return base + i;
      base += c.length;
    }
    return -1;
  };

  const pump = () => {
    for (;;) {
      if (header === null) {
        const nl = findNewline();
        if (nl < 0) {
          if (size > MAX_HEADER) shimFatal('protocol error: frame header longer than 64 KiB');
          return;
        }
        if (nl > MAX_HEADER) shimFatal('protocol error: frame header longer than 64 KiB');
        const line = take(nl + 1).toString('utf8', 0, nl);
        let h;
        try {
          h = JSON.parse(line);
        } catch (e) {
          return shimFatal(`protocol error: frame header is not JSON: ${e.message}`);
        }
        if (h === null || typeof h !== 'object' || Array.isArray(h) || typeof h.type !== 'string') {
          return shimFatal('protocol error: frame header is not an object with a "type"');
        }
        if (h.len === undefined || h.len === null) {
          onFrame(h, null);
          continue;
        }
        if (!Number.isSafeInteger(h.len) || h.len < 0 || h.len > maxPayload) {
          return shimFatal(`protocol error: bad payload length ${JSON.stringify(h.len)}`);
        }
        header = h;
      }
      if (size < header.len + 1) return;
      const payload = Buffer.from(take(header.len)); // own copy, detached from the read buffer
      if (take(1)[0] !== 10) shimFatal('protocol error: payload not followed by "\\n"');
      const h = header;
      header = null;
      onFrame(h, payload);
    }
  };

  const s = process.stdin;
  stdin.stream = s;
  s.on('data', (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
    pump();
  });
  const end = () => {
    if (stdin.ended) return;
    stdin.ended = true;
    onEnd();
  };
  s.on('end', end);
  s.on('close', end);
  s.on('error', end);
}

// ---------------------------------------------------------------------------------------------
// Errors (aws-lambda-ric Errors.js / dist/utils/error(s).js behaviour).

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
// v4-only error classes
class CallbackHandlerDeprecated extends Error {}
class JSONStringifyError extends Error {}
class PlatformError extends Error {}
for (const E of [
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
]) {
  E.prototype.name = `Runtime.${E.name}`;
}
const HANDLED_MESSAGE =
  'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack';

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

// The body aws-lambda-ric posts for an error: {"errorType","errorMessage","trace"}.
function toRapidResponse(error) {
  if (V4) {
    try {
      if (error instanceof Error) {
        return {
          errorType: error.name?.replace(DEL, '%7F'),
          errorMessage: error.message?.replace(DEL, '%7F'),
          trace: error.stack?.replace(DEL, '%7F').split('\n') || [],
        };
      }
      return { errorType: typeof error, errorMessage: String(error), trace: [] };
    } catch (_) {
      return { errorType: 'handled', errorMessage: HANDLED_MESSAGE, trace: [] };
    }
  }
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: error.name?.replace(DEL, '%7F'),
        errorMessage: error.message?.replace(DEL, '%7F'),
        trace: error.stack.replace(DEL, '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return { errorType: 'handled', errorMessage: HANDLED_MESSAGE };
  }
}

function intoError(err) {
  if (err instanceof Error) return err;
  return V4 ? new Error(String(err)) : new Error(err);
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

function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// X-Ray cause document (aws-lambda-ric XRayError.js / dist/utils/xray.js behaviour).
function xrayCause(err) {
  try {
    const stack = [];
    if (err.stack) {
      const lines = err.stack.replace(DEL, '%7F').split('\n');
      lines.shift();
      for (const raw of lines) {
        let line;
        let label;
        let file;
        if (V4) {
          line = raw.trim().replace(/[()]/g, '').replace(/^[^\s]*\s/, '');
          const sp = line.lastIndexOf(' ');
          label = sp >= 0 ? line.slice(0, sp) : 'anonymous';
          file = sp >= 0 ? line.slice(sp + 1) : line;
        } else {
          line = raw.trim().replace(/\(|\)/g, '');
          line = line.substring(line.indexOf(' ') + 1);
          const sp = line.lastIndexOf(' ');
          label = sp >= 0 ? line.slice(0, sp) : null;
          file = label == null || label.length === 0 ? line : line.slice(sp + 1);
          label = label || 'anonymous';
        }
        const parts = file.split(':');
        stack.push({ path: parts[0], line: parseInt(parts[1]), label });
      }
    }
    const doc = {
      working_directory: process.cwd(),
      exceptions: [
        {
          type: err.name?.replace(DEL, '%7F'),
          message: err.message?.replace(DEL, '%7F'),
          stack,
        },
      ],
      paths: Array.from(new Set(stack.map((e) => e.path))),
    };
    return JSON.stringify(doc);
  } catch (_) {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// Console patching (aws-lambda-ric LogPatch.js / dist/logging behaviour). Lines go to
// process.stdout, i.e. fd 1 = the log pipe, never to the frame channel.

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');
const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});
const jsonMode = process.env.AWS_LAMBDA_LOG_FORMAT?.toUpperCase() === 'JSON';

// v4 keeps per-invoke data in awslambda.InvokeStore (single-concurrency flavour).
const PROTECTED_KEYS = {
  REQUEST_ID: Symbol.for('_AWS_LAMBDA_REQUEST_ID'),
  X_RAY_TRACE_ID: Symbol.for('_AWS_LAMBDA_X_RAY_TRACE_ID'),
  TENANT_ID: Symbol.for('_AWS_LAMBDA_TENANT_ID'),
};
class InvokeStoreSingle {
  isProtectedKey(key) {
    return Object.values(PROTECTED_KEYS).includes(key);
  }
  getRequestId() {
    return this.get(PROTECTED_KEYS.REQUEST_ID) ?? '-';
  }
  getXRayTraceId() {
    return this.get(PROTECTED_KEYS.X_RAY_TRACE_ID);
  }
  getTenantId() {
    return this.get(PROTECTED_KEYS.TENANT_ID);
  }
  getContext() {
    return this.currentContext;
  }
  hasContext() {
    return this.currentContext !== undefined;
  }
  get(key) {
    return this.currentContext?.[key];
  }
  set(key, value) {
    if (this.isProtectedKey(key)) {
      throw new Error(`Cannot modify protected Lambda context field: ${String(key)}`);
    }
    this.currentContext = this.currentContext || {};
    this.currentContext[key] = value;
  }
  run(context, fn) {
    this.currentContext = context;
    return fn();
  }
}
InvokeStoreSingle.PROTECTED_KEYS = PROTECTED_KEYS;
let invokeStore = null;

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

// v3: messageParams = [message, ...params]; v4: message and params are kept apart.
function formatJson(timestamp, level, requestId, tenantId, message, params) {
  const result = { timestamp, level: level.name, requestId };
  if (V4 ? tenantId : tenantId !== undefined && tenantId !== null) result.tenantId = tenantId;
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
  for (const p of V4 ? params : [message, ...params]) {
    if (p instanceof Error) {
      result.errorType = p?.constructor?.name ?? 'UnknownError';
      result.errorMessage = p.message;
      result.stackTrace = typeof p.stack === 'string' ? p.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logLine(level, message, params) {
  const time = new Date().toISOString();
  let requestId;
  let tenantId;
  if (V4) {
    requestId = invokeStore.getRequestId();
    tenantId = invokeStore.getTenantId() || '';
  } else {
    requestId = globalThis[REQUEST_ID];
    tenantId = globalThis[TENANT_ID];
  }
  const line = jsonMode
    ? formatJson(time, level, requestId, tenantId, message, params)
    : `${time}\t${requestId}\t${level.name}\t${util.format(message, ...params)}`;
  process.stdout.write(line.replace(/\n/g, '\r') + '\n');
}

function patchConsole() {
  const env = process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase();
  const min = (V4 ? env && env in LEVELS && LEVELS[env] : LEVELS[env]) || LEVELS.TRACE;
  const nop = (_message, ..._params) => {};
  const make = (level, always) =>
    always || level.priority >= min.priority
      ? (message, ...params) => logLine(level, message, params)
      : nop;
  console.trace = make(LEVELS.TRACE);
  console.debug = make(LEVELS.DEBUG);
  console.info = make(LEVELS.INFO);
  console.log = console.info;
  console.warn = make(LEVELS.WARN);
  console.error = make(LEVELS.ERROR);
  console.fatal = make(LEVELS.FATAL, !V4);
}

function logError(msg, err) {
  if (jsonMode) console.error(intoError(err));
  else console.error(msg, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------------------------
// globalThis.awslambda (streamifyResponse, HttpResponseStream).

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType('application/vnd.awslambda.http-integration-response');
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function installGlobalAwsLambda() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') return;
  const streamifyResponse = (handler, options) => {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    if (typeof options?.highWaterMark === 'number') {
      handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
    }
    return handler;
  };
  globalThis.awslambda = V4
    ? { ...globalThis.awslambda, streamifyResponse, HttpResponseStream }
    : { streamifyResponse, HttpResponseStream };
  if (V4 && invokeStore) globalThis.awslambda.InvokeStore = invokeStore;
}

// ---------------------------------------------------------------------------------------------
// Loading the user's handler (aws-lambda-ric UserFunction.js / dist/function behaviour).

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
// The parent module named in "Require stack:" of module-not-found errors. aws-lambda-ric names
// its own install location here; this is the location used by Lambda's managed runtimes.
const userRequire = require('module').createRequire('/var/runtime/index.mjs');

function _moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function _splitHandlerString(handler) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length != 3) throw new MalformedHandlerName('Bad handler');
  return [match[1], match[2]];
}

function _tryRequireFile(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? userRequire(p) : undefined;
}

async function _tryAwaitImport(file, extension) {
  const p = file + (extension || '');
  if (fs.existsSync(p)) return await import(require('url').pathToFileURL(p).href);
  return undefined;
}

function _hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return _hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

function _hasPackageJsonTypeModule(file) {
  const jsPath = file + '.js';
  return fs.existsSync(jsPath)
    ? _hasFolderPackageJsonTypeModule(path.resolve(path.dirname(jsPath)))
    : false;
}

async function _tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  if (V4) {
    for (const ext of ['', '.js', '.mjs', '.cjs']) {
      const loaded = await _tryAwaitImport(lambdaStylePath, ext);
      if (loaded) return loaded;
    }
    return userRequire(
      userRequire.resolve(module, { paths: [appRoot, path.join(appRoot, moduleRoot)] }),
    );
  }
  const extensionless = _tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;
  const pjHasModule = _hasPackageJsonTypeModule(lambdaStylePath);
  if (!pjHasModule) {
    const loaded = _tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await _tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await _tryAwaitImport(lambdaStylePath, '.mjs')) ||
    _tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;
  return userRequire(
    userRequire.resolve(module, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }),
  );
}

async function _loadUserApp(appRoot, moduleRoot, module) {
  if (!V4) installGlobalAwsLambda();
  try {
    return await _tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) {
      const wrapped = new UserCodeSyntaxError(V4 ? String(e) : e);
      if (V4) wrapped.stack = e.stack; // v4 keeps the original stack
      throw wrapped;
    }
    // (v3 reads e.code unguarded: a thrown null/undefined becomes a TypeError, as there)
    if (V4 ? e instanceof Error && e.code === 'MODULE_NOT_FOUND' : e.code !== undefined && e.code === 'MODULE_NOT_FOUND') {
      throw new ImportModuleError(V4 ? String(e) : e);
    }
    throw e;
  }
}

function _findIn(object, nestedProperty) {
  return nestedProperty
    .split('.')
    .reduce(
      (nested, key) =>
        V4 ? (nested && typeof nested === 'object' ? nested[key] : undefined) : nested && nested[key],
      object,
    );
}

function _resolveHandler(userApp, handlerPath) {
  let handler = _findIn(userApp, handlerPath);
  // module.default fallback (v4 behaviour, used in both modes): CJS loaded through import()
  // and `export default { handler }` modules.
  if (!handler && typeof userApp === 'object' && userApp !== null && 'default' in userApp) {
    handler = _findIn(userApp.default, handlerPath);
  }
  return handler;
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = _moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = _splitHandlerString(moduleAndHandler);
  const userApp = await _loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = _resolveHandler(userApp, handlerPath);
  if (!handlerFunc) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handlerFunc !== 'function') {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handlerFunc;
}

function getHandlerMetadata(handler) {
  const s = handler[HANDLER_STREAMING];
  let streaming = false;
  if (s !== undefined && s !== null && s !== false && !(V4 && !s)) {
    if (s !== STREAM_RESPONSE) throw new MalformedStreamingHandler('Only response streaming is supported.');
    streaming = true;
  }
  return {
    streaming,
    isAsync: handler.constructor?.name === 'AsyncFunction',
    argsNum: handler.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Answers to ferric. Only the current, unanswered invocation may be answered; anything else
// (a late callback, an error after the answer) is dropped, because a frame for another id is a
// protocol violation.

let current = null; // the last invocation started (answered or not)
let readySent = false;
let shuttingDown = false;
const queue = [];

function canAnswer(inv) {
  return inv !== null && inv === current && !inv.answered;
}

function serializeResult(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch (_) {
    throw V4 ? new JSONStringifyError('Unable to stringify response body') : new Error('Unable to stringify response body');
  }
}

function postInvocationResponse(result, inv, callback) {
  const body = serializeResult(result); // may throw, like aws-lambda-ric
  if (!canAnswer(inv)) return;
  inv.answered = true;
  payloadFrame({ type: 'result', id: inv.id, content_type: 'application/json' }, body);
  if (callback) callback();
}

function postInvocationError(error, inv, callback) {
  const response = toRapidResponse(error);
  if (!canAnswer(inv)) return;
  inv.answered = true;
  const header = { type: 'error', id: inv.id, error_type: String(response.errorType) };
  const cause = xrayCause(error);
  if (cause) header.xray_cause = cause;
  payloadFrame(header, JSON.stringify(response));
  if (callback) callback();
}

function postInitError(error) {
  const response = toRapidResponse(error);
  payloadFrame({ type: 'init_error', error_type: String(response.errorType) }, JSON.stringify(response));
}

function sendReady() {
  readySent = true;
  writeFrame({
    type: 'ready',
    protocol: 1,
    pid: process.pid,
    runtime: `node ${process.versions.node}`,
    executable: process.execPath,
    compat: `aws-lambda-ric ${COMPAT}`,
    init_ms: Date.now() - SHIM_START,
  });
}

// ---------------------------------------------------------------------------------------------
// The invocation loop.

const CALLBACK_WARNING =
  'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or later. For more information and to provide feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.';
const CALLBACK_ERROR_NODEJS22 =
  'ERROR: AWS Lambda does not support callback-based function handlers when using Node.js 22 with Managed Instances. To use Managed Instances, modify this function to use a supported handler signature. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
const CALLBACK_ERROR_NODEJS24_ABOVE =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

function parseJsonHeader(value, name) {
  if (value === undefined || value === null) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function forwardXRay(inv) {
  if (inv.traceId) process.env._X_AMZN_TRACE_ID = inv.traceId;
  else delete process.env._X_AMZN_TRACE_ID;
}

// v3 InvokeContext.attachEnvironmentData
function attachEnvironmentData(inv, callbackContext) {
  forwardXRay(inv);
  const deadline = inv.deadline;
  return Object.assign(
    callbackContext,
    {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    },
    {
      clientContext: parseJsonHeader(inv.clientContext, 'ClientContext'),
      identity: parseJsonHeader(inv.cognitoIdentity, 'CognitoIdentity'),
      invokedFunctionArn: inv.arn,
      awsRequestId: inv.id,
      tenantId: inv.tenantId,
      getRemainingTimeInMillis: function () {
        return deadline - Date.now();
      },
    },
  );
}

// v3 CallbackContext: [callback, context, markCompleted]; the first of callback/done/succeed/fail
// wins, and a successful callback waits for the event loop to drain unless
// callbackWaitsForEmptyEventLoop is false.
function buildCallbackContext(inv, scheduleNext) {
  const postError = (err, cb) => {
    logError('Invoke Error', err);
    postInvocationError(err, inv, cb);
  };
  let isCompleteInvoked = false;
  const complete = (result, cb) => {
    if (isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    isCompleteInvoked = true;
    postInvocationResponse(result, inv, cb);
  };
  let waitForEmptyEventLoop = true;
  const callback = function (err, result) {
    inv.beforeExit = null;
    if (err !== undefined && err !== null) {
      postError(err, scheduleNext);
    } else if (!waitForEmptyEventLoop) {
      complete(result, scheduleNext);
    } else {
      inv.beforeExit = () => {
        setImmediate(() => complete(result, scheduleNext));
      };
    }
  };
  const done = (err, result) => {
    inv.beforeExit = null;
    if (err !== undefined && err !== null) postError(err, scheduleNext);
    else complete(result, scheduleNext);
  };
  const succeed = (result) => {
    done(null, result);
  };
  const fail = (err) => {
    if (err === undefined || err === null) done('handled');
    else done(err, null);
  };
  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed,
    fail,
    done,
  };
  let finished = false;
  const onlyAllowFirstCall = (toWrap) =>
    function () {
      if (!finished) {
        toWrap.apply(null, arguments);
        finished = true;
      }
    };
  callbackContext.succeed = onlyAllowFirstCall(callbackContext.succeed);
  callbackContext.fail = onlyAllowFirstCall(callbackContext.fail);
  callbackContext.done = onlyAllowFirstCall(callbackContext.done);
  const markCompleted = () => {
    isCompleteInvoked = true;
  };
  return [onlyAllowFirstCall(callback), callbackContext, markCompleted];
}

function _isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(handler, handlerMetadata) {
    this.handler = handler;
    this.handlerMetadata = handlerMetadata;
  }

  scheduleIteration() {
    if (!shuttingDown) stdin.ref();
    setImmediate(() => this.next());
  }

  next() {
    if (shuttingDown || (current && !current.answered) || queue.length === 0) return;
    const { header, payload } = queue.shift();
    const inv = {
      id: String(header.id),
      deadline: header.deadline_ms,
      arn: header.arn ?? undefined,
      traceId: header.trace_id ?? undefined,
      clientContext: header.client_context ?? undefined,
      cognitoIdentity: header.cognito_identity ?? undefined,
      tenantId: header.tenant_id ?? undefined,
      body: payload ? payload.toString('utf8') : '',
      answered: false,
      beforeExit: null,
    };
    current = inv;
    // Our own stdin handle must not keep the event loop alive while the handler runs, so that
    // 'beforeExit' fires exactly when the user's work has drained (callbackWaitsForEmptyEventLoop).
    stdin.unref();
    const handle = V4 ? this.handleOnceV4(inv) : this.handleOnceNonStreaming(inv);
    handle.then(
      () => {},
      (err) => {
        if (V4) throw err; // v4: errors escaping the loop crash the process
        console.log(`Unexpected Top Level Error: ${err.toString()}`);
        errorCallbacks.uncaughtException(err);
      },
    );
  }

  async handleOnceNonStreaming(inv) {
    globalThis[REQUEST_ID] = inv.id;
    globalThis[TENANT_ID] = inv.tenantId;
    const [callback, callbackContext, markCompleted] = buildCallbackContext(
      inv,
      this.scheduleIteration.bind(this),
    );
    try {
      this._setErrorCallbacks(inv);
      this._setDefaultExitListener(inv, markCompleted, this.handlerMetadata.isAsync);
      if (this.handlerMetadata.streaming) {
        JSON.parse(inv.body);
        attachEnvironmentData(inv, callbackContext);
        throw new StreamingNotSupported(
          'Response streaming (awslambda.streamifyResponse) is not supported by ferric yet; return the response from a buffered handler instead.',
        );
      }
      const result = this.handler(
        JSON.parse(inv.body),
        attachEnvironmentData(inv, callbackContext),
        callback,
      );
      if (_isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  _setErrorCallbacks(inv) {
    errorCallbacks.uncaughtException = (error) => {
      postInvocationError(error, inv);
      process.exit(129);
    };
    errorCallbacks.unhandledRejection = (error) => {
      postInvocationError(error, inv);
      process.exit(128);
    };
  }

  _setDefaultExitListener(inv, markCompleted, isAsync) {
    inv.beforeExit = () => {
      markCompleted();
      if (isAsync) {
        const err = new NodeJsExit();
        logError('Invoke Error', err);
        postInvocationError(err, inv, () => this.scheduleIteration());
      } else {
        postInvocationResponse(null, inv, () => this.scheduleIteration());
      }
    };
  }

  // aws-lambda-ric v4: buffered handlers only, awaited; answers deferred by one setImmediate.
  async handleOnceV4(inv) {
    const missing = [
      'AWS_LAMBDA_FUNCTION_NAME',
      'AWS_LAMBDA_FUNCTION_VERSION',
      'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
      'AWS_LAMBDA_LOG_GROUP_NAME',
      'AWS_LAMBDA_LOG_STREAM_NAME',
    ].filter((name) => !process.env[name]);
    if (missing.length > 0) {
      throw new PlatformError(`Missing required environment variables: ${missing.join(', ')}`);
    }
    const deadline = parseInt(inv.deadline, 10);
    if (isNaN(deadline)) throw new PlatformError('Invalid deadline timestamp');
    const parseHeader = (value, name) => {
      if (!value) return undefined;
      try {
        return JSON.parse(value);
      } catch (error) {
        throw new PlatformError(`Failed to parse ${name} as JSON: ${error.message}`);
      }
    };
    const context = {
      clientContext: parseHeader(inv.clientContext, 'lambda-runtime-client-context'),
      identity: parseHeader(inv.cognitoIdentity, 'lambda-runtime-cognito-identity'),
      invokedFunctionArn: inv.arn,
      awsRequestId: inv.id,
      tenantId: inv.tenantId,
      xRayTraceId: inv.traceId,
      getRemainingTimeInMillis: function () {
        return deadline - Date.now();
      },
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    };
    forwardXRay(inv);
    const event = JSON.parse(inv.body);
    await invokeStore.run(
      { [PROTECTED_KEYS.REQUEST_ID]: inv.id, [PROTECTED_KEYS.X_RAY_TRACE_ID]: inv.traceId },
      async () => {
        try {
          if (this.handlerMetadata.streaming) {
            throw new StreamingNotSupported(
              'Response streaming (awslambda.streamifyResponse) is not supported by ferric yet; return the response from a buffered handler instead.',
            );
          }
          const result = await this.handler(event, context);
          await new Promise((resolve) => setImmediate(resolve));
          postInvocationResponse(result, inv);
        } catch (err) {
          await new Promise((resolve) => setImmediate(resolve));
          logError('Invoke Error', err);
          postInvocationError(err, inv);
        }
      },
    );
    this.scheduleIteration();
  }
}

// v3 process-wide error hooks; the callbacks are replaced per invocation.
const errorCallbacks = {
  uncaughtException: (error) => {
    if (!readySent) postInitError(error);
    process.exit(129);
  },
  unhandledRejection: (error) => {
    if (!readySent) postInitError(error);
    process.exit(128);
  },
};

function shutdown() {
  if (shuttingDown) return;
  shuttingDown = true;
  if (process.listenerCount('SIGTERM') === 0) process.exit(0);
  // Run the user's SIGTERM handlers (Lambda's graceful-shutdown hook), then exit 0 once the
  // event loop drains unless they exit themselves.
  stdin.unref();
  process.emit('SIGTERM', 'SIGTERM');
}

function onFrame(runtime, header, payload) {
  if (shuttingDown) return;
  if (header.type === 'shutdown') return shutdown();
  if (header.type !== 'invoke') return; // unknown types from ferric are ignored
  if (typeof header.id !== 'string' || header.id === '') {
    shimFatal('protocol error: invoke frame without an id');
  }
  if ((current && !current.answered) || queue.length > 0) {
    shimFatal('protocol error: invoke received while another invocation is in progress');
  }
  queue.push({ header, payload });
  runtime.scheduleIteration();
}

async function main() {
  const args = process.argv.slice(require.main === module ? 2 : 1);
  const handlerString = args.length > 0 ? args[args.length - 1] : process.env._HANDLER;
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  delete process.env._LAMBDA_TELEMETRY_LOG_FD; // ferric owns the telemetry descriptor
  if (!handlerString) throw new Error('No handler specified');

  if (V4) {
    invokeStore = new InvokeStoreSingle();
    installGlobalAwsLambda();
    patchConsole();
    let handler;
    let metadata;
    try {
      handler = await loadHandler(appRoot, handlerString);
      metadata = getHandlerMetadata(handler);
      if (metadata.argsNum >= 3 && !metadata.streaming) {
        throw new CallbackHandlerDeprecated(
          process.env.AWS_EXECUTION_ENV === 'AWS_Lambda_nodejs22.x'
            ? CALLBACK_ERROR_NODEJS22
            : CALLBACK_ERROR_NODEJS24_ABOVE,
        );
      }
    } catch (error) {
      logError('Init Error', error);
      postInitError(error);
      throw error; // v4: the rejection is left unhandled, Node prints it and exits 1
    }
    return start(new Runtime(handler, metadata));
  }

  console.log(`Executing '${handlerString}' in function directory '${appRoot}'`);
  patchConsole();
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  // aws-lambda-ric v3 loads inside its async run(); a failure surfaces through the
  // uncaughtException hook above (init error, exit 129).
  let handler;
  let metadata;
  try {
    handler = await loadHandler(appRoot, handlerString);
    metadata = getHandlerMetadata(handler);
  } catch (error) {
    logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  if (
    process.env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined &&
    metadata.argsNum == 3 &&
    metadata.isAsync == false &&
    metadata.streaming == false
  ) {
    console.warn(CALLBACK_WARNING);
  }
  return start(new Runtime(handler, metadata));
}

function start(runtime) {
  process.on('beforeExit', () => {
    if (shuttingDown) return process.exit(0);
    const inv = current;
    if (inv && !inv.answered && inv.beforeExit) {
      const listener = inv.beforeExit;
      listener();
    }
    // otherwise the loop drained with nothing to wait for (stdin closed, or v4 with a promise
    // that never settles): let the process exit like aws-lambda-ric's would.
  });
  // Like aws-lambda-ric's scheduleIteration: ready goes out on the next turn of the loop, so
  // rejections left by module initialisation are still reported as init errors.
  setImmediate(() => {
    startReader(
      (header, payload) => onFrame(runtime, header, payload),
      () => {
        if (!shuttingDown) process.exit(0);
      },
    );
    sendReady();
  });
}

main().catch((err) => {
  if (V4) throw err;
  shimFatal(err && err.stack ? err.stack : String(err));
});
