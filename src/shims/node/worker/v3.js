'use strict';
// aws-lambda-ric v3 behaviour (the default on Node <= 23; FERRIC_NODE_COMPAT=v3 forces it):
// npm aws-lambda-ric@3.3.0 plus the upstream v3 source after it (Runtime.NodeJsExit, the
// callback deprecation warning). Everything that is v3-specific lives here: error bodies, load
// order, console levels, the context with callbacks / done / succeed / fail, and completions
// deferred until the event loop drains (callbackWaitsForEmptyEventLoop, 'beforeExit').

const path = require('path');
const util = require('util');
const errors = require('./errors');
const { escapeDel, looksLikeError, HANDLED_MESSAGE } = errors;
const { Logger, LEVELS, STDOUT, configuredLevel } = require('./logging');
const { createLoader } = require('./loading');
const awslambda = require('./awslambda');
const { forwardXRay } = require('./invocation');
const { fatal } = require('./protocol');
const streaming = require('./streaming');

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');
const TENANT_ID = Symbol.for('aws.lambda.runtime.tenantId');

const CALLBACK_WARNING =
  'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or later. For more information and to provide feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.';

// ---------------------------------------------------------------------------------------------
// Errors (Errors.js, XRayError.js)

/** The body aws-lambda-ric v3 posts for an error: {"errorType","errorMessage","trace"}. */
function errorBody(error) {
  try {
    if (util.types.isNativeError(error) || looksLikeError(error)) {
      return {
        errorType: escapeDel(error.name),
        errorMessage: escapeDel(error.message),
        trace: error.stack.replace(/\x7F/g, '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_) {
    return { errorType: 'handled', errorMessage: HANDLED_MESSAGE };
  }
}

function toError(err) {
  return err instanceof Error ? err : new Error(err);
}

/** One X-Ray stack entry: "at label (path:line:col)" -> [label, "path:line:col"]. */
function parseStackLine(raw) {
  let line = raw.trim().replace(/\(|\)/g, '');
  line = line.substring(line.indexOf(' ') + 1);
  const sp = line.lastIndexOf(' ');
  const label = sp >= 0 ? line.slice(0, sp) : null;
  const file = label == null || label.length === 0 ? line : line.slice(sp + 1);
  return [label || 'anonymous', file];
}

function serializeResult(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch (_) {
    throw new Error('Unable to stringify response body');
  }
}

// ---------------------------------------------------------------------------------------------
// Loading (UserFunction.js): extensionless and .js through require() (.js through import() in a
// "type": "module" package), .mjs through import(), .cjs through require(), then node_modules.

async function _tryRequire(appRoot, moduleRoot, module, files) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = files.require(lambdaStylePath);
  if (extensionless) return extensionless;
  const pjHasModule = files.hasPackageJsonTypeModule(lambdaStylePath);
  if (!pjHasModule) {
    const loaded = files.require(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await files.import(lambdaStylePath, '.js'))) ||
    (await files.import(lambdaStylePath, '.mjs')) ||
    files.require(lambdaStylePath, '.cjs');
  if (loaded) return loaded;
  const { userRequire } = files;
  return userRequire(
    userRequire.resolve(module, { paths: [appRoot, path.resolve(appRoot, moduleRoot)] }),
  );
}

function wrapLoadError(e) {
  if (e instanceof SyntaxError) return new errors.UserCodeSyntaxError(e);
  // e.code is read unguarded, as there: a thrown null/undefined becomes a TypeError
  if (e.code !== undefined && e.code === 'MODULE_NOT_FOUND') return new errors.ImportModuleError(e);
  return e;
}

function installGlobalAwsLambda() {
  if (awslambda.globalDisabled()) return;
  globalThis.awslambda = {
    streamifyResponse: awslambda.streamifyResponse,
    HttpResponseStream: awslambda.HttpResponseStream,
  };
}

// ---------------------------------------------------------------------------------------------
// Context (InvokeContext.js, CallbackContext.js)

function parseJsonHeader(value, name) {
  if (value === undefined || value === null) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// InvokeContext.attachEnvironmentData: the data fields, after the callback API, in this order.
// (Assigned one by one rather than Object.assign'd from two temporary objects, in the same order
// and only once both headers have parsed: the same context, two objects fewer per invocation.)
function attachEnvironmentData(inv, callbackContext) {
  forwardXRay(inv.traceId);
  const deadline = inv.deadline;
  const clientContext = parseJsonHeader(inv.clientContext, 'ClientContext');
  const identity = parseJsonHeader(inv.cognitoIdentity, 'CognitoIdentity');
  const env = process.env;
  const c = callbackContext;
  c.functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
  c.functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  c.memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  c.logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
  c.logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;
  c.clientContext = clientContext;
  c.identity = identity;
  c.invokedFunctionArn = inv.arn;
  c.awsRequestId = inv.id;
  c.tenantId = inv.tenantId;
  // a named binding, so the function's name is getRemainingTimeInMillis as in the object literal
  const getRemainingTimeInMillis = function () {
    return deadline - Date.now();
  };
  c.getRemainingTimeInMillis = getRemainingTimeInMillis;
  return c;
}

// context.callbackWaitsForEmptyEventLoop is an own, enumerable, configurable accessor, first among
// the context's keys, as in aws-lambda-ric's CallbackContext and StreamingContext. Its getter and
// setter are one pair shared by every context, which finds the invocation's flag in a private
// field of the context: V8 allocates an accessor's getter/setter pair in old space, so a fresh pair
// of closures per invocation kept every invocation's objects alive through scavenges until the
// next full GC, and grew the young generation under load (benches/runtimes/findings.md).
class Stamped {
  constructor(target) {
    return target; // lets WaitFlag's field initialiser stamp a plain object
  }
}

class WaitFlag extends Stamped {
  #flag;

  constructor(target, flag) {
    super(target);
    this.#flag = flag;
  }

  // The flag of the context `obj` is or inherits from; for a getter copied onto another object
  // (aws-lambda-ric's closures keep reading their own invocation's flag), the latest context's.
  static of(obj) {
    for (let o = obj; typeof o === 'object' && o !== null; o = Object.getPrototypeOf(o)) {
      if (#flag in o) return o.#flag;
    }
    return latestWaitFlag;
  }
}

let latestWaitFlag = { waitForEmptyEventLoop: true };

const WAIT_FLAG_ACCESSOR = Object.getOwnPropertyDescriptor(
  {
    get callbackWaitsForEmptyEventLoop() {
      return WaitFlag.of(this).waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      WaitFlag.of(this).waitForEmptyEventLoop = value;
    },
  },
  'callbackWaitsForEmptyEventLoop',
);

/** A new context object holding only callbackWaitsForEmptyEventLoop, backed by `flag`. */
function withWaitFlag(flag) {
  const context = {};
  Object.defineProperty(context, 'callbackWaitsForEmptyEventLoop', WAIT_FLAG_ACCESSOR);
  new WaitFlag(context, flag);
  latestWaitFlag = flag;
  return context;
}

// CallbackContext: [callback, context]. The first of callback/done/succeed/fail wins; a
// successful callback waits for the event loop to drain unless
// context.callbackWaitsForEmptyEventLoop is false. The state lives in one CallbackState (also
// inv.callbackState) and the four functions handed out are anonymous and take `arguments`, as
// aws-lambda-ric's wrapped ones are (name "", length 0).
//
// Nothing long-lived (the invocation, the runtime) holds a closure over one invocation's state:
// the completions waiting for the event loop to drain are shared functions given the invocation
// (loop.js calls inv.beforeExit(inv)), and the crash hooks read the loop's current invocation. Closures held
// that way kept each invocation's objects alive through two scavenges, so V8 promoted them and
// grew its young generation under load (benches/runtimes/findings.md).
class CallbackState {
  constructor(inv, runtime) {
    this.inv = inv;
    this.runtime = runtime;
    this.isCompleteInvoked = false;
    this.waitForEmptyEventLoop = true;
    this.finished = false;
    this.pendingResult = undefined; // a callback's result, posted when the event loop drains
  }

  postError(err) {
    this.runtime.logger.error('Invoke Error', err);
    this.runtime.loop.postInvocationError(err, this.inv, this.runtime.scheduleNext);
  }

  complete(result) {
    if (this.isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    this.isCompleteInvoked = true;
    this.runtime.loop.postInvocationResponse(result, this.inv, this.runtime.scheduleNext);
  }

  callback(err, result) {
    this.inv.beforeExit = null;
    if (err !== undefined && err !== null) {
      this.postError(err);
    } else if (!this.waitForEmptyEventLoop) {
      this.complete(result);
    } else {
      this.pendingResult = result;
      this.inv.beforeExit = completeWhenDrained;
    }
  }

  done(err, result) {
    this.inv.beforeExit = null;
    if (err !== undefined && err !== null) this.postError(err);
    else this.complete(result);
  }

  fail(err) {
    if (err === undefined || err === null) this.done('handled');
    else this.done(err, null);
  }
}

/** inv.beforeExit after a successful callback: the result goes out on the next turn. */
function completeWhenDrained(inv) {
  setImmediate(completePending, inv.callbackState);
}

function completePending(st) {
  st.complete(st.pendingResult);
}

/**
 * inv.beforeExit until the handler reports: the loop drained with nothing reported, which
 * answers null, or Runtime.NodeJsExit for an async function (a promise that never settled).
 */
function completeWithNothingReported(inv) {
  const st = inv.callbackState;
  const runtime = st.runtime;
  st.isCompleteInvoked = true;
  if (runtime.handlerMetadata.isAsync) {
    const err = new errors.NodeJsExit();
    runtime.logger.error('Invoke Error', err);
    runtime.loop.postInvocationError(err, inv, runtime.scheduleNext);
  } else {
    runtime.loop.postInvocationResponse(null, inv, runtime.scheduleNext);
  }
}

function buildCallbackContext(inv, runtime) {
  const st = new CallbackState(inv, runtime);
  inv.callbackState = st;
  // [callback, succeed, fail, done]: only the first call of any of them counts
  const once = [
    function () {
      if (!st.finished) {
        st.callback(arguments[0], arguments[1]);
        st.finished = true;
      }
    },
    function () {
      if (!st.finished) {
        st.done(null, arguments[0]);
        st.finished = true;
      }
    },
    function () {
      if (!st.finished) {
        st.fail(arguments[0]);
        st.finished = true;
      }
    },
    function () {
      if (!st.finished) {
        st.done(arguments[0], arguments[1]);
        st.finished = true;
      }
    },
  ];
  const callbackContext = withWaitFlag(st);
  callbackContext.succeed = once[1];
  callbackContext.fail = once[2];
  callbackContext.done = once[3];
  return [once[0], callbackContext];
}

function _isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

// ---------------------------------------------------------------------------------------------
// Streamed responses (ResponseStream.js, StreamingContext.js; the request itself: streaming.js)

// What v3's ResponseStream.js does differently from v4's.
const RESPONSE_STREAM = {
  headers: () => ({
    [streaming.HEADER_RESPONSE_MODE]: streaming.VALUE_STREAMING,
    Trailer: [streaming.TRAILER_NAME_ERROR_TYPE, streaming.TRAILER_NAME_ERROR_BODY],
    'Content-Type': streaming.DEFAULT_CONTENT_TYPE,
  }),
  // other values (also typed arrays other than Uint8Array itself) are JSON.stringify'd
  isRaw: (chunk) =>
    typeof chunk === 'string' || Buffer.isBuffer(chunk) || chunk?.constructor === Uint8Array,
  shape: {
    methods: [
      'cork', 'destroy', 'end', 'uncork', 'write',
      'addListener', 'emit', 'eventNames', 'getMaxListeners', 'listenerCount', 'listeners', 'off',
      'on', 'once', 'prependListener', 'prependOnceListener', 'rawListeners', 'removeAllListeners',
      'removeListener', 'setMaxListeners',
      'setContentType',
    ],
    readWrite: ['destroyed', 'writable', '_onBeforeFirstWrite'],
    readOnly: [
      'writableFinished', 'writableObjectMode', 'writableBuffer', 'writableEnded',
      'writableNeedDrain', 'writableHighWaterMark', 'writableCorked', 'writableLength',
    ],
  },
  patchEnd: true,
  errorBody,
  asyncFail: false,
  InvalidStreamingOperation: errors.InvalidStreamingOperation,
};

// StreamingContext.build: the context's callbackWaitsForEmptyEventLoop decides whether the next
// invocation waits for the event loop to drain after the stream has ended (default: it waits).
function buildStreamingContext(runtime, inv, scheduleNext, options) {
  const flag = { waitForEmptyEventLoop: true };
  const scheduleNextNow = () => {
    if (!flag.waitForEmptyEventLoop) {
      scheduleNext();
    } else {
      inv.beforeExit = () => {
        setImmediate(() => {
          scheduleNext();
        });
      };
    }
  };
  let isStreamCreated = false;
  const streamingContext = withWaitFlag(flag);
  streamingContext.createStream = (callback) => {
    if (isStreamCreated) {
      throw new errors.InvalidStreamingOperation(
        'Cannot create stream for the same StreamingContext more than once.',
      );
    }
    const stream = streaming.createResponseStream(
      runtime.loop,
      inv,
      RESPONSE_STREAM,
      options?.highWaterMark,
    );
    const responseStream = stream.request;
    const rapidResponse = stream.responseDone.then((_) => {
      if (callback) callback();
    });
    isStreamCreated = true;
    return {
      fail: (err, callback2) => {
        runtime.logger.error('Invoke Error', err);
        streaming.tryCallFail(responseStream, err, callback2);
      },
      responseStream,
      rapidResponse,
      answerEarly: stream.answerEarly,
      scheduleNext: () => {
        inv.beforeExit = null; // BeforeExitListener.reset()
        scheduleNextNow();
      },
    };
  };
  return streamingContext;
}

/** UserFunction._highWaterMark */
function highWaterMarkOf(handler) {
  const value = handler[awslambda.HANDLER_HIGHWATERMARK];
  if (typeof value === 'undefined' || value === null || value === false) return undefined;
  const hwm = parseInt(value);
  return isNaN(hwm) ? undefined : hwm;
}

// ---------------------------------------------------------------------------------------------
// The runtime (Runtime.js, index.mjs)

class Runtime {
  constructor(loop, logger) {
    this.loop = loop;
    this.logger = logger;
    this.handler = null; // called as this.handler(...): user frames read "[as handler]"
    this.handlerMetadata = null;
    this.scheduleNext = () => loop.scheduleIteration();
  }

  /**
   * The process-wide error hooks: report, then exit 129 (exception) or 128 (rejection). The error
   * is for the last invocation started, answered or not (as aws-lambda-ric's hooks, replaced when
   * each invocation starts); before the first one it is an init error.
   */
  crash(error, status) {
    const inv = this.loop.current;
    if (inv === null) {
      if (!this.loop.readySent) this.loop.postInitError(error);
    } else {
      this.loop.postInvocationError(error, inv);
    }
    process.exit(status);
  }

  installProcessHooks() {
    process.on('uncaughtException', (error) => {
      this.logger.error('Uncaught Exception', error);
      this.crash(error, 129);
    });
    process.on('unhandledRejection', (reason, promise) => {
      const error = new errors.UnhandledPromiseRejection(reason, promise);
      this.logger.error('Unhandled Promise Rejection', error);
      this.crash(error, 128);
    });
  }

  handleOnce(inv) {
    if (this.handlerMetadata.streaming && this.loop.streaming) return this.handleOnceStreaming(inv);
    return this.handleOnceNonStreaming(inv);
  }

  onTopLevelError(err) {
    console.log(`Unexpected Top Level Error: ${err.toString()}`);
    this.crash(err, 129);
  }

  async handleOnceNonStreaming(inv) {
    globalThis[REQUEST_ID] = inv.id;
    globalThis[TENANT_ID] = inv.tenantId;
    const [callback, callbackContext] = buildCallbackContext(inv, this);
    try {
      inv.beforeExit = completeWithNothingReported;
      if (this.handlerMetadata.streaming) {
        JSON.parse(inv.body);
        attachEnvironmentData(inv, callbackContext);
        throw new errors.StreamingNotSupported(errors.STREAMING_NOT_SUPPORTED);
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

  async handleOnceStreaming(inv) {
    globalThis[REQUEST_ID] = inv.id;
    globalThis[TENANT_ID] = inv.tenantId;
    inv.holdNext = true;
    const streamingContext = buildStreamingContext(
      this,
      inv,
      this.scheduleNext,
      this.handlerMetadata?.highWaterMark
        ? { highWaterMark: this.handlerMetadata.highWaterMark }
        : undefined,
    );
    const {
      responseStream,
      rapidResponse,
      scheduleNext,
      fail: ctxFail,
      answerEarly,
    } = streamingContext.createStream();
    delete streamingContext.createStream;
    try {
      this._setStreamingExitListener(inv, answerEarly);
      const ctx = attachEnvironmentData(inv, streamingContext);
      const event = JSON.parse(inv.body);
      const handlerResult = this.handler(event, responseStream, ctx);
      if (!_isPromise(handlerResult)) {
        ctxFail('Streaming does not support non-async handlers.', scheduleNext);
        return;
      }
      const result = await handlerResult;
      if (typeof result !== 'undefined') {
        console.warn('Streaming handlers ignore return values.');
      }
      if (rapidResponse) {
        await rapidResponse;
      }
      if (!responseStream.writableFinished) {
        ctxFail('Response stream is not finished.', scheduleNext);
        return;
      }
      scheduleNext();
    } catch (err) {
      ctxFail(err, scheduleNext);
    }
  }

  // aws-lambda-ric's listener takes the next invocation when the loop drains during a stream
  // (its open request never lets that happen). Here the loop drains when nothing can end the
  // stream any more: RAPID "answers" first (streaming.js), so an awaited rapidResponse goes on to
  // "Response stream is not finished."; after that, the listener's own behaviour.
  _setStreamingExitListener(inv, answerEarly) {
    inv.beforeExit = () => {
      if (answerEarly()) return;
      this.loop.scheduleIteration();
    };
  }
}

/**
 * LogPatch._patchConsole: records go to the telemetry descriptor when _LAMBDA_TELEMETRY_LOG_FD is
 * set at all (parseInt of it, unchecked, as there), which is then removed; else to stdout.
 */
function logTarget(env) {
  if (env._LAMBDA_TELEMETRY_LOG_FD != null && env._LAMBDA_TELEMETRY_LOG_FD != undefined) {
    const fd = parseInt(env._LAMBDA_TELEMETRY_LOG_FD);
    delete env._LAMBDA_TELEMETRY_LOG_FD;
    return { kind: 'telemetry', fd };
  }
  return STDOUT;
}

/**
 * Like aws-lambda-ric v3's run(): log where it starts, patch the console, install the process
 * hooks, then load. A load failure goes through the uncaughtException hook (init error, exit 129).
 */
async function start({ loop, handlerString, appRoot, importUrl }) {
  const logger = new Logger({
    ids: () => [globalThis[REQUEST_ID], globalThis[TENANT_ID]],
    showTenantId: (tenantId) => tenantId !== undefined && tenantId !== null,
    errorFieldsFromMessage: true,
    errorBody,
    toError,
  });
  const loader = createLoader({
    importUrl,
    tryRequire: _tryRequire,
    wrapLoadError,
    findStep: (nested, key) => nested && nested[key],
    isStreamingTag: (tag) => tag !== undefined && tag !== null && tag !== false,
    beforeLoad: installGlobalAwsLambda,
  });
  const runtime = new Runtime(loop, logger);

  console.log(`Executing '${handlerString}' in function directory '${appRoot}'`);
  logger.setTarget(logTarget(process.env));
  logger.patchConsole(LEVELS[configuredLevel()] || LEVELS.TRACE, true);
  runtime.installProcessHooks();
  let handler;
  let metadata;
  try {
    handler = await loader.loadHandler(appRoot, handlerString);
    metadata = loader.getHandlerMetadata(handler);
    metadata.highWaterMark = highWaterMarkOf(handler);
  } catch (error) {
    logger.error('Uncaught Exception', error);
    runtime.crash(error, 129);
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
  runtime.handler = handler;
  runtime.handlerMetadata = metadata;
  loop.start(runtime);
}

/** An exception escaping start() (no handler given): reported on stderr, exit 1. */
function startFailed(err) {
  fatal(err && err.stack ? err.stack : String(err));
}

module.exports = { name: 'v3', errorBody, parseStackLine, serializeResult, start, startFailed };
