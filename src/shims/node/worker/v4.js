'use strict';
// aws-lambda-ric v4 behaviour (npm aws-lambda-ric@4.0.2; the default on Node >= 24,
// FERRIC_NODE_COMPAT=v4 forces it): async handlers only (callback handlers are rejected at
// init), everything loaded through import(), per-invocation data in
// globalThis.awslambda.InvokeStore, no process-wide error hooks (an escaping error crashes the
// worker, as there). Everything that is v4-specific lives here.

const path = require('path');
const sharedErrors = require('./errors');
const { escapeDel, HANDLED_MESSAGE } = sharedErrors;
// v4's own error classes (own `name`, v4 class names): see errors.js
const errors = { ...sharedErrors.v4, STREAMING_NOT_SUPPORTED: sharedErrors.STREAMING_NOT_SUPPORTED };
const { Logger, LEVELS, STDOUT, configuredLevel } = require('./logging');
const { createLoader } = require('./loading');
const awslambda = require('./awslambda');
const { forwardXRay } = require('./invocation');
const streaming = require('./streaming');

const CALLBACK_ERROR_NODEJS22 =
  'ERROR: AWS Lambda does not support callback-based function handlers when using Node.js 22 with Managed Instances. To use Managed Instances, modify this function to use a supported handler signature. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
const CALLBACK_ERROR_NODEJS24_ABOVE =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. You need to modify this function to use a supported handler signature to use Node.js 24 or later. For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

const REQUIRED_ENV = [
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
];

// ---------------------------------------------------------------------------------------------
// Errors (dist/utils/error.js, xray.js)

/** The body aws-lambda-ric v4 posts for an error: {"errorType","errorMessage","trace"}. */
function errorBody(error) {
  try {
    if (error instanceof Error) {
      return {
        errorType: escapeDel(error.name),
        errorMessage: escapeDel(error.message),
        trace: escapeDel(error.stack)?.split('\n') || [],
      };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return { errorType: 'handled', errorMessage: HANDLED_MESSAGE, trace: [] };
  }
}

function toError(err) {
  return err instanceof Error ? err : new Error(String(err));
}

/** One X-Ray stack entry: "at label (path:line:col)" -> [label, "path:line:col"]. */
function parseStackLine(raw) {
  const line = raw.trim().replace(/[()]/g, '').replace(/^[^\s]*\s/, '');
  const sp = line.lastIndexOf(' ');
  return sp >= 0 ? [line.slice(0, sp), line.slice(sp + 1)] : ['anonymous', line];
}

function serializeResult(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch (_) {
    throw new errors.JSONStringifyError('Unable to stringify response body');
  }
}

// ---------------------------------------------------------------------------------------------
// awslambda.InvokeStore, the single-concurrency flavour of @aws/lambda-invoke-store

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

function installGlobalAwsLambda(invokeStore) {
  if (awslambda.globalDisabled()) return;
  globalThis.awslambda = {
    ...globalThis.awslambda,
    streamifyResponse: awslambda.streamifyResponse,
    HttpResponseStream: awslambda.HttpResponseStream,
  };
  globalThis.awslambda.InvokeStore = invokeStore;
}

// ---------------------------------------------------------------------------------------------
// Loading (dist/function): "", .js, .mjs, .cjs all through import(), then node_modules.

async function _tryRequire(appRoot, moduleRoot, module, files) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  for (const ext of ['', '.js', '.mjs', '.cjs']) {
    const loaded = await files.import(lambdaStylePath, ext);
    if (loaded) return loaded;
  }
  const { userRequire } = files;
  return userRequire(
    userRequire.resolve(module, { paths: [appRoot, path.join(appRoot, moduleRoot)] }),
  );
}

function wrapLoadError(e) {
  if (e instanceof SyntaxError) {
    return new errors.UserCodeSyntaxError(e); // keeps the original stack
  }
  if (e instanceof Error && e.code === 'MODULE_NOT_FOUND') {
    return new errors.ImportModuleError(e);
  }
  return e;
}

// ---------------------------------------------------------------------------------------------
// Streamed responses (dist/stream/response-stream.js; the request itself: streaming.js)

// What v4's response-stream.js does differently from v3's.
const RESPONSE_STREAM = {
  headers: () => ({
    [streaming.HEADER_RESPONSE_MODE]: streaming.VALUE_STREAMING,
    Trailer: [streaming.TRAILER_NAME_ERROR_TYPE, streaming.TRAILER_NAME_ERROR_BODY],
    'Content-Type': streaming.DEFAULT_CONTENT_TYPE,
    'Transfer-Encoding': 'chunked',
  }),
  isRaw: (chunk) =>
    typeof chunk === 'string' || Buffer.isBuffer(chunk) || chunk instanceof Uint8Array,
  shape: {
    methods: [
      'cork', 'destroy', 'end', 'uncork', 'write',
      'addListener', 'on', 'once', 'prependListener', 'prependOnceListener', 'off',
      'removeListener', 'removeAllListeners', 'setMaxListeners', 'getMaxListeners', 'listeners',
      'rawListeners', 'listenerCount', 'eventNames', 'emit',
      'setContentType',
    ],
    readWrite: ['destroyed', '_onBeforeFirstWrite'],
    readOnly: [
      'writableFinished', 'writableObjectMode', 'writableEnded', 'writableNeedDrain',
      'writableHighWaterMark', 'writableCorked', 'writableLength', 'writable',
    ],
  },
  patchEnd: false,
  errorBody,
  asyncFail: true,
  InvalidStreamingOperation: errors.InvalidStreamingOperation,
};

/** UserFunctionLoader.getHighWaterMark */
function highWaterMarkOf(handler) {
  const value = handler[awslambda.HANDLER_HIGHWATERMARK];
  if (!value) return undefined;
  const hwm = Number(value);
  return Number.isNaN(hwm) ? undefined : hwm;
}

// ---------------------------------------------------------------------------------------------
// The invoke processors (dist/runtime/*-invoke-processor.js, lifecycle-manager.js). The handler is
// called as this.handler(...) from them, so user stack frames read as under aws-lambda-ric
// ("at BufferedInvokeProcessor.fn [as handler]").

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

class BufferedInvokeProcessor {
  constructor(runtime) {
    this.handler = runtime.handler;
    this.runtime = runtime;
  }

  async processInvoke(inv, context, event) {
    const { loop, logger } = this.runtime;
    try {
      if (this.runtime.handlerMetadata.streaming) {
        throw new errors.StreamingNotSupported(errors.STREAMING_NOT_SUPPORTED);
      }
      const result = await this.handler(event, context);
      await nextTurn();
      loop.postInvocationResponse(result, inv);
    } catch (err) {
      await nextTurn();
      logger.error('Invoke Error', err);
      loop.postInvocationError(err, inv);
    }
  }
}

class StreamingInvokeProcessor {
  constructor(runtime) {
    this.handler = runtime.handler;
    this.runtime = runtime;
  }

  async processInvoke(inv, context, event) {
    inv.holdNext = true;
    const stream = streaming.createResponseStream(
      this.runtime.loop,
      inv,
      RESPONSE_STREAM,
      this.runtime.handlerMetadata.highWaterMark,
    );
    const { request: responseStream, responseDone: rapidResponse } = stream;
    // The loop drained with the stream open: see streaming.js (answerEarly). If the handler's
    // promise never settles either, the open request keeps the process waiting (as there, where
    // it is a real connection) until ferric's deadline.
    inv.beforeExit = () => {
      if (!stream.answerEarly() && stream.isOpen()) this.runtime.loop.keepAlive();
    };
    try {
      const handlerResult = this.handler(event, responseStream, context);
      await this.waitForStreamClosure(handlerResult, rapidResponse, responseStream);
    } catch (err) {
      await this.failResponseStream(responseStream, err);
    }
  }

  async waitForStreamClosure(handlerResult, rapidResponse, responseStream) {
    if (!this.isPromise(handlerResult)) {
      throw new Error('Streaming does not support non-async handlers.');
    }
    const result = await handlerResult;
    if (typeof result !== 'undefined') {
      console.warn('Streaming handlers ignore return values.');
    }
    await rapidResponse;
    if (!responseStream.writableFinished) {
      throw new Error('Response stream is not finished.');
    }
  }

  async failResponseStream(responseStream, error) {
    await nextTurn();
    this.runtime.logger.error('Invoke Error', error);
    streaming.tryCallFail(responseStream, error);
  }

  isPromise(value) {
    return typeof value === 'object' && value !== null && typeof value.then === 'function';
  }
}

// ---------------------------------------------------------------------------------------------
// The runtime (dist/runtime, dist/context/context-builder.js)

class Runtime {
  constructor(loop, logger, invokeStore, handler, handlerMetadata) {
    this.loop = loop;
    this.logger = logger;
    this.invokeStore = invokeStore;
    this.handler = handler;
    this.handlerMetadata = handlerMetadata;
    this.processor =
      handlerMetadata.streaming && loop.streaming
        ? new StreamingInvokeProcessor(this)
        : new BufferedInvokeProcessor(this);
  }

  // Errors escaping an invocation crash the process (v4 installs no process hooks).
  onTopLevelError(err) {
    throw err;
  }

  // One invocation, awaited (buffered: the answer is deferred by one setImmediate; streamed:
  // until RAPID has answered the stream).
  async handleOnce(inv) {
    const missing = REQUIRED_ENV.filter((name) => !process.env[name]);
    if (missing.length > 0) {
      throw new errors.PlatformError(`Missing required environment variables: ${missing.join(', ')}`);
    }
    const deadline = parseInt(inv.deadline, 10);
    if (isNaN(deadline)) throw new errors.PlatformError('Invalid deadline timestamp');
    const parseHeader = (value, name) => {
      if (!value) return undefined;
      try {
        return JSON.parse(value);
      } catch (error) {
        throw new errors.PlatformError(`Failed to parse ${name} as JSON: ${error.message}`);
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
    forwardXRay(inv.traceId);
    const event = JSON.parse(inv.body);
    await this.invokeStore.run(
      { [PROTECTED_KEYS.REQUEST_ID]: inv.id, [PROTECTED_KEYS.X_RAY_TRACE_ID]: inv.traceId },
      () => this.processor.processInvoke(inv, context, event),
    );
    this.loop.scheduleIteration();
  }
}

// ---------------------------------------------------------------------------------------------
// Where console records go (dist/logging/log-patch.js createLogger, dist/utils/env.js, socket.js)

/** Multi-concurrency (Lambda Managed Instances): AWS_LAMBDA_MAX_CONCURRENCY is set. */
function isMultiConcurrentMode() {
  return process.env.AWS_LAMBDA_MAX_CONCURRENCY !== undefined;
}

/**
 * One connection to _LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET (fd 1 without it); its descriptor.
 * The socket stays open and referenced for the life of the worker, as there.
 */
function acquireSocketFd(env) {
  if (!env._LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET) return Promise.resolve(1);
  const socketPath = env._LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET;
  return new Promise((resolve, reject) => {
    try {
      const socket = require('net').createConnection(socketPath);
      socket.once('error', (err) => {
        reject(new errors.PlatformError(`Failed to connect to telemetry socket: ${err.message}`));
      });
      socket.once('connect', () => {
        const handle = socket._handle;
        if (handle && typeof handle.fd === 'number') {
          resolve(handle.fd);
        } else {
          reject(new errors.PlatformError('Socket file descriptor not available'));
        }
      });
    } catch (error) {
      const errorMessage = error instanceof Error ? error.message : String(error);
      reject(new errors.PlatformError(`Failed to connect to telemetry socket: ${errorMessage}`));
    }
  });
}

/** consumeTelemetryFd: always removes _LAMBDA_TELEMETRY_LOG_FD; a non-negative integer is used. */
function consumeTelemetryFd(env) {
  const raw = env._LAMBDA_TELEMETRY_LOG_FD;
  delete env._LAMBDA_TELEMETRY_LOG_FD;
  const fd = Number(raw);
  return Number.isInteger(fd) && fd >= 0 ? fd : undefined;
}

async function logTarget(env) {
  if (isMultiConcurrentMode()) return { kind: 'socket', fd: await acquireSocketFd(env) };
  const telemetryFd = consumeTelemetryFd(env);
  if (telemetryFd) return { kind: 'telemetry', fd: telemetryFd };
  return STDOUT;
}

/** Like aws-lambda-ric v4's createRuntime: globals and console first, then load. */
async function start({ loop, handlerString, appRoot, importUrl }) {
  const invokeStore = new InvokeStoreSingle();
  const logger = new Logger({
    ids: () => [invokeStore.getRequestId(), invokeStore.getTenantId() || ''],
    showTenantId: (tenantId) => Boolean(tenantId),
    errorFieldsFromMessage: false,
    errorBody,
    toError,
  });
  const loader = createLoader({
    importUrl,
    tryRequire: _tryRequire,
    wrapLoadError,
    findStep: (nested, key) => (nested && typeof nested === 'object' ? nested[key] : undefined),
    isStreamingTag: (tag) => Boolean(tag),
    errors,
  });

  installGlobalAwsLambda(invokeStore);
  logger.setTarget(await logTarget(process.env));
  const level = configuredLevel();
  logger.patchConsole((level && level in LEVELS && LEVELS[level]) || LEVELS.TRACE, false);
  let handler;
  let metadata;
  try {
    handler = await loader.loadHandler(appRoot, handlerString);
    metadata = loader.getHandlerMetadata(handler);
    metadata.highWaterMark = highWaterMarkOf(handler);
    if (metadata.argsNum >= 3 && !metadata.streaming) {
      throw new errors.CallbackHandlerDeprecated(
        process.env.AWS_EXECUTION_ENV === 'AWS_Lambda_nodejs22.x'
          ? CALLBACK_ERROR_NODEJS22
          : CALLBACK_ERROR_NODEJS24_ABOVE,
      );
    }
  } catch (error) {
    logger.error('Init Error', error);
    loop.postInitError(error);
    throw error; // the rejection is left unhandled: Node prints it and exits 1
  }
  loop.start(new Runtime(loop, logger, invokeStore, handler, metadata));
}

/** An exception escaping start() is left unhandled, as in aws-lambda-ric v4 (Node exits 1). */
function startFailed(err) {
  throw err;
}

module.exports = { name: 'v4', errorBody, parseStackLine, serializeResult, start, startFailed };
