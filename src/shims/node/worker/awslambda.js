'use strict';
// globalThis.awslambda as aws-lambda-ric installs it before user code: streamifyResponse and
// HttpResponseStream (v4 adds InvokeStore, see v4.js); the same in both generations. The
// streamed responses themselves: streaming.js.

const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType('application/vnd.awslambda.http-integration-response');
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

const streamifyResponse = (handler, options) => {
  handler[HANDLER_STREAMING] = STREAM_RESPONSE;
  if (typeof options?.highWaterMark === 'number') {
    handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
  }
  return handler;
};

/** AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA=1|true: no globalThis.awslambda. */
function globalDisabled() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  return off === '1' || off === 'true';
}

module.exports = {
  HANDLER_STREAMING,
  HANDLER_HIGHWATERMARK,
  STREAM_RESPONSE,
  HttpResponseStream,
  streamifyResponse,
  globalDisabled,
};
