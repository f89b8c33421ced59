'use strict';
// Cold start of the worker: spawn -> ready frame (wall), the worker's CPU time at ready (all
// threads, /proc/<pid>/task/*/schedstat) and idle RSS after one invocation; medians.
//   node src/shims/node/bench/cold-start.js [RUNS] [OLD_SHIM.js]
// OLD_SHIM.js (optional) is a former single-file shim, started the old way
// (`node --input-type=commonjs -e <its source> -- HANDLER`), measured alternately with this one.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const harness = require('../test/harness');

const runs = Number(process.argv[2] || 20);
const oldShim = process.argv[3];
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'ferric-cold-start-'));
fs.writeFileSync(path.join(app, 'h.js'), 'exports.handler = async (e) => e;\n');
const bundle = harness.buildBundle(harness.bundleFiles(path.join(harness.SHIM_DIR, 'worker')));
const bundleFile = path.join(app, 'bundle');
fs.writeFileSync(bundleFile, bundle);
const bundleFd = fs.openSync(bundleFile, 'r');

const variants = { new: { program: harness.BOOT_SOURCE, bundle: true } };
if (oldShim) variants.old = { program: fs.readFileSync(oldShim, 'utf8') };

const cpuMs = (pid) =>
  fs.readdirSync(`/proc/${pid}/task`).reduce((ns, t) => ns + Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]), 0) / 1e6;
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

function once(v) {
  return new Promise((resolve) => {
    const env = { ...harness.baseEnv(), FERRIC_PROTOCOL_FD: '3', LAMBDA_TASK_ROOT: app };
    if (v.bundle) Object.assign(env, { FERRIC_SHIM_FD: '4', FERRIC_SHIM_KEY: harness.fnv1a64(bundle), FERRIC_SHIM_CACHE: '', FERRIC_SHIM_PREPARE: '' });
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', v.program, '--', 'h.handler'], {
      cwd: app,
      env,
      stdio: ['pipe', 'ignore', 'inherit', 'pipe', v.bundle ? bundleFd : 'ignore'],
    });
    const r = {};
    let lines = 0;
    child.stdio[3].on('data', (d) => {
      lines += d.toString().split('\n').length - 1;
      if (r.ms === undefined) {
        r.ms = Number(process.hrtime.bigint() - t0) / 1e6;
        r.cpu = cpuMs(child.pid);
        child.stdin.write(`${JSON.stringify({ type: 'invoke', id: 'r1', deadline_ms: Date.now() + 10000, arn: 'a', len: 2 })}\n{}\n`);
      } else if (lines >= 3 && r.rss === undefined) {
        setTimeout(() => {
          r.rss = rssKiB(child.pid);
          child.stdin.end();
        }, 300);
      }
    });
    child.on('exit', () => resolve(r));
  });
}

(async () => {
  const names = Object.keys(variants);
  const results = Object.fromEntries(names.map((n) => [n, []]));
  for (const n of names) await once(variants[n]); // warm the page cache
  for (let i = 0; i < runs; i++) {
    for (const n of i % 2 ? [...names].reverse() : names) results[n].push(await once(variants[n]));
  }
  for (const [n, r] of Object.entries(results)) {
    console.log(
      `${n}: spawn -> ready median ${median(r.map((x) => x.ms)).toFixed(1)} ms (min ${Math.min(...r.map((x) => x.ms)).toFixed(1)}), ` +
        `CPU at ready ${median(r.map((x) => x.cpu)).toFixed(1)} ms, idle RSS ${median(r.map((x) => x.rss))} KiB`,
    );
  }
  fs.rmSync(app, { recursive: true, force: true });
})();
