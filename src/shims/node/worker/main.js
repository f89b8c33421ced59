'use strict';
// The ferric Node.js worker: speaks worker protocol v1 (docs/PROTOCOL.md) and runs a Lambda
// Node.js handler the way aws-lambda-ric does, v3 on Node <= 23 and v4 on Node >= 24 (README.md
// next to this directory). This module wires the pieces together:
//   protocol.js    frames in (fd 0) and out (FERRIC_PROTOCOL_FD), fatal errors
//   loop.js        ready, one invocation at a time, answers, shutdown
//   v3.js, v4.js   the two aws-lambda-ric generations (runtime, context, load order, error bodies)
//   errors.js, logging.js, loading.js, awslambda.js, invocation.js   what they share
//
// boot.js loads these modules from the bundle and calls run(); `node worker/main.js HANDLER`
// runs the same worker from the files.

const protocol = require('./protocol');
const { WorkerLoop } = require('./loop');

/** FERRIC_PROTOCOL_FEATURES (comma-separated): whether ferric takes streamed responses. Removed. */
function takeFeatures(env) {
  const raw = env.FERRIC_PROTOCOL_FEATURES;
  delete env.FERRIC_PROTOCOL_FEATURES;
  return new Set(String(raw || '').split(',').map((f) => f.trim()).filter(Boolean));
}

/** FERRIC_NODE_COMPAT=v3|v4 forces a generation (used by the tests); it is removed. */
function chooseCompat(env) {
  const forced = env.FERRIC_NODE_COMPAT;
  delete env.FERRIC_NODE_COMPAT;
  if (forced === 'v3' || forced === 'v4') return forced;
  return parseInt(process.versions.node, 10) >= 24 ? 'v4' : 'v3';
}

// Removes `--input-type=commonjs -e <program>` from process.execArgv, so user code that
// re-spawns node with process.execArgv does not start another worker (child_process.fork
// already drops -e).
function cleanExecArgv() {
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
}

/**
 * options:
 *   argv       the arguments after the program: the handler is the last one (else _HANDLER)
 *   startedAt  Date.now() when the worker started (for the ready frame's init_ms)
 *   importUrl  import() for file: URLs (boot.js passes its own: vm-compiled code has none)
 */
function run(options) {
  const env = process.env;
  const compat = chooseCompat(env);
  const features = takeFeatures(env);
  const generation = compat === 'v4' ? require('./v4') : require('./v3');
  cleanExecArgv();
  const loop = new WorkerLoop({
    channel: protocol.FrameWriter.open(env),
    reader: new protocol.FrameReader(env),
    compat,
    startedAt: options.startedAt,
    errorBody: generation.errorBody,
    parseStackLine: generation.parseStackLine,
    serializeResult: generation.serializeResult,
    streaming: features.has('streaming'),
  });
  const main = async () => {
    const args = options.argv;
    const handlerString = args.length > 0 ? args[args.length - 1] : env._HANDLER;
    const appRoot = env.LAMBDA_TASK_ROOT || process.cwd();
    if (!handlerString) throw new Error('No handler specified');
    await generation.start({ loop, handlerString, appRoot, importUrl: options.importUrl });
  };
  return main().catch((err) => generation.startFailed(err));
}

if (require.main === module) {
  run({ argv: process.argv.slice(2), startedAt: Date.now(), importUrl: (url) => import(url) });
}

module.exports = { run };
