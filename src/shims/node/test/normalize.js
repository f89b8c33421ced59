'use strict';
// Normalisation for the differential tests (aws-lambda-ric vs the shim): what cannot be the same
// between two different programs is made equal, everything else must match byte for byte.
//   * stack frames inside the runtime itself (aws-lambda-ric's files, the shim's modules
//     /ferric/node/worker/*.js and its [eval] boot program): traces are cut at the first
//     runtime frame;
//   * the "Require stack" parent of module-not-found errors (aws-lambda-ric's install path vs
//     /var/runtime/index.mjs);
//   * timestamps ("timestamp" fields, the time column of TEXT lines).
//
// This file is not a test (Node's runner lists it as a passing file).

const { SHIM_MODULE_PREFIX } = require('./harness');

/**
 * runtimeDirs: directories whose frames are the runtime's (aws-lambda-ric's real paths);
 * requireParents: [[aws-lambda-ric's require parent, the shim's]].
 */
function normalizer({ runtimeDirs, requireParents }) {
  const RUNTIME_FRAME = (line) =>
    runtimeDirs.some((d) => line.includes(d)) || line.includes(SHIM_MODULE_PREFIX) || line.includes('[eval]');

  function cutTrace(lines) {
    const i = lines.findIndex((l) => /^\s+at /.test(l) && RUNTIME_FRAME(l));
    return i < 0 ? lines : lines.slice(0, i);
  }

  // Cut runtime frames first (they contain aws-lambda-ric's path), then map the require parent.
  function fixString(s) {
    let out = s;
    if (/\r {4}at /.test(out)) out = cutTrace(out.split('\r')).join('\r');
    if (/\n {4}at /.test(out)) out = cutTrace(out.split('\n')).join('\n');
    for (const [from, to] of requireParents || []) out = out.split(from).join(to);
    return out;
  }

  function normalizeValue(v, key) {
    if (typeof v === 'string') return fixString(v);
    if (Array.isArray(v)) {
      let arr = v;
      if (['trace', 'stack', 'stackTrace'].includes(key) && arr.every((x) => typeof x === 'string')) arr = cutTrace(arr);
      return arr.map((x) => normalizeValue(x));
    }
    if (v && typeof v === 'object') {
      const o = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'timestamp') o[k] = '<T>';
        else o[k] = normalizeValue(x, k);
      }
      return o;
    }
    return v;
  }

  function normalizeBody(body) {
    let j;
    try {
      j = JSON.parse(body);
    } catch (_) {
      return body;
    }
    // the serialised form must be JSON.stringify output in both, so compare keys in order too
    return JSON.stringify(normalizeValue(j));
  }

  // The X-Ray stack has one entry per line of error.stack after the first, so it is cut where the
  // error body's trace is cut.
  function normalizeXray(s, body) {
    if (!s) return s;
    const j = JSON.parse(s);
    let trace = [];
    try {
      trace = JSON.parse(body).trace || [];
    } catch (_) {
      /* no trace */
    }
    const keep = cutTrace(trace).length - 1;
    for (const ex of j.exceptions) {
      if (ex.stack && keep >= 0) ex.stack = ex.stack.slice(0, keep);
    }
    j.paths = Array.from(new Set(j.exceptions.flatMap((ex) => (ex.stack || []).map((f) => f.path))));
    return JSON.stringify(normalizeValue(j));
  }

  /** One log record (a TEXT line, or JSON). */
  function normalizeRecord(line) {
    if (line.startsWith('{')) {
      try {
        return JSON.stringify(normalizeValue(JSON.parse(line)));
      } catch (_) {
        return fixString(line);
      }
    }
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)(\t[^\t]*\t[A-Z]+\t)(.*)$/s.exec(line);
    if (!m) return fixString(line);
    let msg = m[3];
    const j = /^([^\t{]*\t)(\{.*\})(\n?)$/s.exec(msg);
    if (j) {
      try {
        msg = j[1] + JSON.stringify(normalizeValue(JSON.parse(j[2]))) + j[3];
      } catch (_) {
        msg = fixString(msg);
      }
    } else {
      msg = fixString(msg);
    }
    return `<T>${m[2]}${msg}`;
  }

  function normalizeLog(text) {
    return text
      .split('\n')
      .filter((l) => l.length > 0)
      .map(normalizeRecord);
  }

  return { cutTrace, fixString, normalizeValue, normalizeBody, normalizeXray, normalizeRecord, normalizeLog };
}

module.exports = { normalizer };
