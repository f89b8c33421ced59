'use strict';
// What one invocation costs V8's heap (benches/runtimes/findings.md, "Node idle RSS").
//   node src/shims/node/bench/young-gen.js [v3|v4] [INVOCATIONS] [SHIM_DIR]
// Runs fixtures' index.echo through the test harness (so exactly as ferric starts workers) under
// --trace-gc-nvp and prints, per invocation, what was allocated, what survived a scavenge and
// what was promoted to old space, with the worker's RSS at the end. Promotion is the number to
// watch: objects of one invocation that V8 keeps through two scavenges make it grow the young
// generation (and the worker's RSS) under load, although a full GC would free them.
// SHIM_DIR: another copy of the shim (boot.js + worker/), e.g. a variant being measured.

const fs = require('fs');
const { ShimWorker, BOOT_SOURCE } = require('../test/harness');

const compat = process.argv[2] || 'v3';
const n = Number(process.argv[3] || 5000);
const shimDir = process.argv[4];
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** Sums of the scavenges' --trace-gc-nvp fields in the worker's log. */
function scavengeTotals(logText) {
  const t = { scavenges: 0, allocated: 0, survived: 0, promoted: 0, heapAfter: 0 };
  for (const line of logText.split('\n')) {
    if (!line.includes('gc=s ')) continue;
    const v = Object.fromEntries(line.trim().split(/\s+/).map((kv) => kv.split('=')));
    t.scavenges += 1;
    t.allocated += Number(v.allocated);
    t.survived += Number(v.new_space_survived);
    t.promoted += Number(v.promoted);
    t.heapAfter = Number(v.total_size_after);
  }
  return t;
}

(async () => {
  const boot = shimDir ? fs.readFileSync(`${shimDir}/boot.js`, 'utf8') : BOOT_SOURCE;
  const w = await ShimWorker.start({
    handler: 'index.echo',
    shimDir,
    env: { FERRIC_NODE_COMPAT: compat },
    argv: ['--trace-gc-nvp', '--input-type=commonjs', '-e', boot, '--', 'index.echo'],
  });
  try {
    await w.ready();
    const event = { k: 'v'.repeat(80) };
    for (let i = 1; i <= n; i++) {
      const f = await w.invoke(event, { id: `r${i}`, trace_id: `Root=1-${i.toString(16)};Sampled=1` });
      if (f.header.type !== 'result') throw new Error(`invocation ${i}: ${f.line}`);
    }
    const t = scavengeTotals(w.logText);
    const perInv = (bytes) => `${Math.round(bytes / n)} B`;
    console.log(
      `${compat}, ${n} echoes: ${t.scavenges} scavenges; per invocation allocated ` +
        `${perInv(t.allocated)}, survived ${perInv(t.survived)}, promoted ${perInv(t.promoted)}; ` +
        `heap after the last scavenge ${(t.heapAfter / 1048576).toFixed(1)} MiB, ` +
        `worker RSS ${(rssKiB(w.child.pid) / 1024).toFixed(1)} MiB`,
    );
  } finally {
    await w.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
