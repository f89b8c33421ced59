'use strict';
// Worker RSS growth from per-invocation _X_AMZN_TRACE_ID values (README.md, "Memory").
//   node src/shims/node/bench/trace-id-rss.js [unique|constant|none] [INVOCATIONS]
// Runs fixtures' index.traceEnv through the test harness (so exactly as ferric starts workers),
// checks every answer echoes the trace id, and prints the RSS at every tenth of the run and the
// growth per invocation after the first tenth (before that the V8 heap is still growing).

const fs = require('fs');
const { ShimWorker } = require('../test/harness');

const mode = process.argv[2] || 'unique';
const n = Number(process.argv[3] || 200000);
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const traceId = (i) =>
  mode === 'unique'
    ? `Root=1-${(0x60000000 + i).toString(16)}-${i.toString(16).padStart(24, '0')};Parent=${i.toString(16).padStart(16, '0')};Sampled=1`
    : mode === 'constant'
      ? 'Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1'
      : null;

(async () => {
  const w = await ShimWorker.start({ handler: 'index.traceEnv' });
  try {
    await w.ready();
    const points = [];
    for (let i = 1; i <= n; i++) {
      const id = traceId(i);
      const f = await w.invoke({}, { trace_id: id, id: `r${i}` });
      if (f.json.value !== id) throw new Error(`invocation ${i}: user code saw ${f.body}`);
      if (i % (n / 10) === 0) points.push([i, rssKiB(w.child.pid)]);
    }
    const [i0, r0] = points[0];
    const [i1, r1] = points[points.length - 1];
    console.log(`${mode}, ${n} invocations: RSS KiB ${points.map((p) => p[1]).join(' ')}`);
    console.log(`growth ${r1 - r0} KiB over invocations ${i0}-${i1}: ${Math.round(((r1 - r0) * 1024) / (i1 - i0))} B per invocation`);
  } finally {
    await w.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
