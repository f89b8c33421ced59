'use strict';
// Loading the user's handler like aws-lambda-ric's UserFunction (v3 UserFunction.js, v4
// dist/function): the handler string ("dir/module.a.b"), the files tried, the handler lookup
// and its metadata. The order in which files are tried, how load errors are wrapped and a few
// checks differ between the generations; v3.js and v4.js pass theirs to createLoader().

const fs = require('fs');
const path = require('path');
const sharedErrors = require('./errors');
const { HANDLER_STREAMING, STREAM_RESPONSE } = require('./awslambda');

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
// The parent module named in "Require stack:" of module-not-found errors. aws-lambda-ric names
// its own install location here; this is the location used by Lambda's managed runtimes. Only
// absolute paths are required through it, so resolution never depends on the working directory.
const userRequire = require('module').createRequire('/var/runtime/index.mjs');

function _moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function _splitHandlerString(handler, MalformedHandlerName) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length != 3) throw new MalformedHandlerName('Bad handler');
  return [match[1], match[2]];
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

/**
 * options:
 *   importUrl(url)   import() of a file: URL. Code compiled by vm (boot.js) has no import() of
 *                    its own (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so main.js passes in the
 *                    boot program's.
 *   tryRequire(appRoot, moduleRoot, module, files)  the generation's search order; `files` has
 *                    require(file, ext) and import(file, ext) (undefined when the file does not
 *                    exist), hasPackageJsonTypeModule(file) and userRequire.
 *   wrapLoadError(e) the error to throw for an exception while loading
 *   findStep(value, key)   one step along the handler's property path
 *   isStreamingTag(tag)    whether the streaming symbol's value marks a streaming handler
 *   beforeLoad()     run just before the module is loaded (optional)
 *   errors           {HandlerNotFound, MalformedHandlerName, MalformedStreamingHandler} (default:
 *                    errors.js's, v3's; v4.js passes its own)
 */
function createLoader(options) {
  const { HandlerNotFound, MalformedHandlerName, MalformedStreamingHandler } =
    options.errors || sharedErrors;

  function _tryRequireFile(file, extension) {
    const p = file + (extension || '');
    return fs.existsSync(p) ? userRequire(p) : undefined;
  }

  async function _tryAwaitImport(file, extension) {
    const p = file + (extension || '');
    if (fs.existsSync(p)) return await options.importUrl(require('url').pathToFileURL(p).href);
    return undefined;
  }

  const files = {
    require: _tryRequireFile,
    import: _tryAwaitImport,
    hasPackageJsonTypeModule: _hasPackageJsonTypeModule,
    userRequire,
  };

  async function _loadUserApp(appRoot, moduleRoot, module) {
    if (options.beforeLoad) options.beforeLoad();
    try {
      return await options.tryRequire(appRoot, moduleRoot, module, files);
    } catch (e) {
      throw options.wrapLoadError(e);
    }
  }

  function _findIn(object, nestedProperty) {
    return nestedProperty.split('.').reduce(options.findStep, object);
  }

  function _resolveHandler(userApp, handlerPath) {
    let handler = _findIn(userApp, handlerPath);
    // module.default fallback (v4 behaviour, used by both generations): CJS loaded through
    // import() and `export default { handler }` modules.
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
    const [module, handlerPath] = _splitHandlerString(moduleAndHandler, MalformedHandlerName);
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
    const tag = handler[HANDLER_STREAMING];
    let streaming = false;
    if (options.isStreamingTag(tag)) {
      if (tag !== STREAM_RESPONSE) {
        throw new MalformedStreamingHandler('Only response streaming is supported.');
      }
      streaming = true;
    }
    return {
      streaming,
      isAsync: handler.constructor?.name === 'AsyncFunction',
      argsNum: handler.length,
    };
  }

  return { loadHandler, getHandlerMetadata };
}

module.exports = { createLoader };
