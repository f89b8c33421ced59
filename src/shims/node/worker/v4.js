'use strict';
// aws-lambda-ric v4 behaviour (npm aws-lambda-ric@4.0.2; the default on Node >= 24,
// FERRIC_NODE_COMPAT=v4 forces it): async handlers only (callback handlers are rejected at
// init), everything loaded through import(), per-invocation data in
// globalThis.awslambda.InvokeStore, no process-wide error hooks (an escaping error crashes the
// worker, as there). Everything that is v4-specific lives here.

const path = require('path');
const errors = require('./errors');
const { escapeDel, HANDLED_MESSAGE } = errors;
const { Logger, LEVELS, configuredLevel } = require('./logging');
const { createLoader } = require('./loading');
const awslambda = require('./awslambda');
const { forwardXRay } = require('./invocation');

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
    const wrapped = new errors.UserCodeSyntaxError(String(e));
    wrapped.stack = e.stack; // v4 keeps the original stack
    return wrapped;
  }
  if (e instanceof Error && e.code === 'MODULE_NOT_FOUND') {
    return new errors.ImportModuleError(String(e));
  }
  return e;
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
  }

  // Errors escaping an invocation crash the process (v4 installs no process hooks).
  onTopLevelError(err) {
    throw err;
  }

  // Buffered handlers only, awaited; the answer is deferred by one setImmediate.
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
      async () => {
        try {
          if (this.handlerMetadata.streaming) {
            throw new errors.StreamingNotSupported(errors.STREAMING_NOT_SUPPORTED);
          }
          const result = await this.handler(event, context);
          await new Promise((resolve) => setImmediate(resolve));
          this.loop.postInvocationResponse(result, inv);
        } catch (err) {
          await new Promise((resolve) => setImmediate(resolve));
          this.logger.error('Invoke Error', err);
          this.loop.postInvocationError(err, inv);
        }
      },
    );
    this.loop.scheduleIteration();
  }
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
  });

  installGlobalAwsLambda(invokeStore);
  const level = configuredLevel();
  logger.patchConsole((level && level in LEVELS && LEVELS[level]) || LEVELS.TRACE, false);
  let handler;
  let metadata;
  try {
    handler = await loader.loadHandler(appRoot, handlerString);
    metadata = loader.getHandlerMetadata(handler);
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
