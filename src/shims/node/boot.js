// ferric's Node.js worker boot program: `node --input-type=commonjs -e <this> -- HANDLER`.
// It reads the worker's CommonJS modules from the bundle on FERRIC_SHIM_FD (src/shims/README.md)
// with positioned reads (every worker shares that open file), closes the fd, and runs
// worker/main.js. Modules are named /ferric/node/worker/NAME in stack traces; their require()
// takes "./name" from the bundle and anything else from Node.
'use strict';
{
  const startedAt = Date.now();
  const fs = require('fs');
  const vm = require('vm');
  const env = process.env;
  const die = (message) => {
    try {
      fs.writeSync(2, `ferric-shim: ${message}\n`);
    } finally {
      process.exit(1);
    }
  };
  const fdVar = env.FERRIC_SHIM_FD;
  const prepare = env.FERRIC_SHIM_PREPARE === '1';
  for (const k of Object.keys(env)) if (k.startsWith('FERRIC_SHIM_')) delete env[k];
  if (prepare) die('the Node.js shim has no compiled-code cache yet: nothing to prepare');
  const fd = /^\d+$/.test(fdVar) && +fdVar > 2 ? +fdVar : die(`no shim bundle: FERRIC_SHIM_FD is ${fdVar ? `"${fdVar}"` : 'not set'}`);
  const sources = new Map();
  try {
    let bundle = Buffer.allocUnsafe(256 * 1024);
    let got = fs.readSync(fd, bundle, 0, bundle.length, 0);
    const head = bundle.toString('latin1', 0, Math.min(got, 4096));
    const end = head.indexOf('\n\n');
    const index = head.slice(0, end).split('\n').map((line) => line.split(' '));
    if (end < 0 || index.shift().join() !== 'ferric-bundle,1') throw new Error('no "ferric-bundle 1" index');
    const size = Math.max(...index.map(([off, len]) => +off + +len));
    if (size > bundle.length) (bundle = Buffer.allocUnsafe(size)), (got = 0);
    for (let n; got < size; got += n) {
      n = fs.readSync(fd, bundle, got, size - got, got);
      if (n === 0) throw new Error('unexpected end of file');
    }
    fs.closeSync(fd);
    for (const [off, len, name] of index) sources.set(name, bundle.toString('utf8', +off, +off + +len));
  } catch (e) {
    die(`cannot read the shim bundle on FERRIC_SHIM_FD=${fd}: ${e.message}`);
  }
  const DIR = '/ferric/node/worker';
  const modules = new Map();
  const load = (name) => {
    let m = modules.get(name);
    if (m) return m.exports;
    const source = sources.get(name);
    if (source === undefined) die(`the shim bundle has no ${name}`);
    m = { id: name, filename: `${DIR}/${name}`, exports: {}, loaded: false };
    modules.set(name, m);
    try {
      const params = ['exports', 'require', 'module', '__filename', '__dirname'];
      const fn = vm.compileFunction(source, params, { filename: m.filename });
      fn.call(m.exports, m.exports, need, m, m.filename, DIR);
    } catch (e) {
      die(`cannot load ${m.filename}: ${e && e.stack}`);
    }
    m.loaded = true;
    return m.exports;
  };
  const need = (id) => (id.startsWith('./') ? load(id.slice(2).replace(/(\.js)?$/, '.js')) : require(id));
  load('main.js').run({ argv: process.argv.slice(1), startedAt, importUrl: (url) => import(url) });
}
