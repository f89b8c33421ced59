// The streaming benchmark's Node handler (benches/streaming.rs), for ferric's Node shim and for
// aws-lambda-ric alike: streams event.bytes bytes in Buffers of event.chunk bytes, waiting for
// 'drain' whenever write() says the stream is full, then ends the stream.
//
// The body is the one benches/streaming/body.rs checks: chunk i is the 16-byte ASCII header
// `NNNNNNNN:IIIIII\n` (the invocation's nonce in hex, i in decimal) followed by filler byte
// j = (j * 7 + 3) % 251, cut to event.chunk bytes; the last chunk is cut to what is left.
import { once } from 'node:events';

const HEADER = 16;
const fillers = new Map();

function filler(chunk) {
  let f = fillers.get(chunk);
  if (!f) {
    f = Buffer.allocUnsafe(Math.max(chunk - HEADER, 0));
    for (let j = 0; j < f.length; j += 1) f[j] = (j * 7 + 3) % 251;
    fillers.set(chunk, f);
  }
  return f;
}

function header(nonce, i) {
  const text = `${nonce.toString(16).padStart(8, '0')}:${String(i).padStart(6, '0')}\n`;
  return Buffer.from(text, 'latin1');
}

export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const { bytes, chunk, nonce } = event;
  const fill = filler(chunk);
  responseStream.setContentType('application/octet-stream');
  for (let i = 0, off = 0; off < bytes; i += 1, off += chunk) {
    const n = Math.min(chunk, bytes - off);
    // A fresh Buffer per write: a written Buffer is owned by the stream until it is flushed.
    const buf = Buffer.allocUnsafe(n);
    header(nonce, i).copy(buf, 0, 0, Math.min(HEADER, n));
    if (n > HEADER) fill.copy(buf, HEADER, 0, n - HEADER);
    if (!responseStream.write(buf)) await once(responseStream, 'drain');
  }
  responseStream.end();
});
