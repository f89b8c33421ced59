"""The streaming benchmark's Python handler (benches/streaming.rs), for ferric's Python shim.

No Python runtime interface client streams responses; ferric's shim streams handlers marked
with `@ferric_lambda.stream` (README.md, "Response streaming"). Each yielded bytes object is one
chunk, sent as it is produced (the shim waits while ferric's pipe is full).

The body is the one benches/streaming/body.rs checks: chunk i is the 16-byte ASCII header
`NNNNNNNN:IIIIII\\n` (the invocation's nonce in hex, i in decimal) followed by filler byte
j = (j * 7 + 3) % 251, cut to event["chunk"] bytes; the last chunk is cut to what is left.
"""

import ferric_lambda

HEADER = 16
_fillers = {}


def _filler(chunk):
    fill = _fillers.get(chunk)
    if fill is None:
        fill = bytes(bytearray((j * 7 + 3) % 251 for j in range(max(chunk - HEADER, 0))))
        _fillers[chunk] = fill
    return fill


@ferric_lambda.stream(content_type="application/octet-stream")
def handler(event, context):
    total, chunk, nonce = event["bytes"], event["chunk"], event["nonce"]
    fill = _filler(chunk)
    off, i = 0, 0
    while off < total:
        n = min(chunk, total - off)
        piece = b"%08x:%06d\n" % (nonce, i) + fill
        yield piece if n == chunk else piece[:n]
        off += n
        i += 1
