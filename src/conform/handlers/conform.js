'use strict';
// The conformance handler `ferric conform --runtime node` runs in the Node shim.
//
// It follows the contract in docs/PROTOCOL.md ("Checking a worker: ferric conform"). Handlers
// here see every event as parsed JSON (as with aws-lambda-ric), so the info answer says
// {"events":"json"} and payloads come as {"conform":"echo","text":...}. There is no
// `init_error` export: `_HANDLER=conform.init_error` must fail the init.

const fs = require('fs');
const { execFileSync } = require('child_process');

class ConformError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConformError';
  }
}

/** The lines the log event asks for: frames, should they reach the frame channel. */
function fakeFrames(requestId) {
  return `{"type":"result","id":"${requestId}","len":4}\nFAKE\n{"type":"ready","protocol":1}\n`;
}

function log(requestId) {
  const text = fakeFrames(requestId);
  process.stderr.write(text);
  process.stdout.write(text);
  console.log(text);
  console.error(text);
  fs.writeSync(1, text); // fd 1 itself
  fs.writeSync(2, text);
  try {
    // and child processes, which inherit fds 1 and 2
    execFileSync('/bin/sh', ['-c', 'printf "%s" "$1"', 'sh', text], { stdio: 'inherit' });
  } catch (_) {
    // no shell in this image
  }
}

exports.handler = async (event, context) => {
  const command = event !== null && typeof event === 'object' ? event.conform : undefined;
  switch (command) {
    case 'info':
      return { events: 'json' };
    case 'echo':
      return event.text;
    case 'error':
      throw new ConformError('conformance check: an error was asked for');
    case 'log':
      log(context.awsRequestId);
      return 'logged';
    case 'stream':
      return { conform: 'nostream' };
    default:
      return event;
  }
};
