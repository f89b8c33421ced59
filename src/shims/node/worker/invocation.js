'use strict';
// One invocation as the invoke frame describes it (docs/PROTOCOL.md), and the process-wide
// state that follows the current invocation (_X_AMZN_TRACE_ID). The context object user code
// receives is built by the generation (v3.js, v4.js): its keys and checks differ.

class Invocation {
  constructor(header, payload) {
    this.id = String(header.id);
    this.deadline = header.deadline_ms;
    this.arn = header.arn ?? undefined;
    this.traceId = header.trace_id ?? undefined;
    this.clientContext = header.client_context ?? undefined;
    this.cognitoIdentity = header.cognito_identity ?? undefined;
    this.tenantId = header.tenant_id ?? undefined;
    this.body = payload ? payload.toString('utf8') : '';
    this.answered = false;
    // v3: the completion to run when the event loop drains (see v3.js); streamed responses (both
    // generations): what to do when the loop drains with the stream still open. Called with the
    // invocation as its argument.
    this.beforeExit = null;
    // v3: the invocation's CallbackState (v3.js)
    this.callbackState = null;
    // a streamed response: stream_start sent and no stream_end / stream_error yet
    this.streamOpen = false;
    // a streamed response is answered before its runtime is done with it: the next invocation
    // waits until the runtime calls loop.scheduleIteration()
    this.holdNext = false;
  }
}

/**
 * _X_AMZN_TRACE_ID follows the invocation (set, or removed when there is none), as in both
 * aws-lambda-ric generations. Every distinct value costs the process ~150 bytes that glibc's
 * setenv(3) never frees; aws-lambda-ric does the same, and keeping the value out of the real
 * environment would change process.env for user code (README.md, "Memory").
 */
function forwardXRay(traceId) {
  if (traceId) process.env._X_AMZN_TRACE_ID = traceId;
  else delete process.env._X_AMZN_TRACE_ID;
}

module.exports = { Invocation, forwardXRay };
