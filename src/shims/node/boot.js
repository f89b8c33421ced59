// ferric Node.js worker bootstrap (TEMPORARY: runs the single-file shim from the bundle on FERRIC_SHIM_FD)
const fs = require('fs');
const fd = Number(process.env.FERRIC_SHIM_FD);
delete process.env.FERRIC_SHIM_FD; delete process.env.FERRIC_SHIM_KEY;
delete process.env.FERRIC_SHIM_CACHE; delete process.env.FERRIC_SHIM_PREPARE;
const size = fs.fstatSync(fd).size;
const buf = Buffer.alloc(size);
fs.readSync(fd, buf, 0, size, 0);
fs.closeSync(fd);
const text = buf.toString('utf8');
const index = text.slice(0, text.indexOf('\n\n')).split('\n').slice(1);
let source = '';
for (const line of index) {
  const [off, len, name] = line.split(' ');
  if (name === 'ferric_shim.js') source = buf.toString('utf8', Number(off), Number(off) + Number(len));
}
const Module = require('module');
const m = new Module('/ferric/node/ferric_shim.js', module);
m.filename = '/ferric/node/ferric_shim.js';
m.paths = module.paths;
m._compile(source, '/ferric/node/ferric_shim.js');
