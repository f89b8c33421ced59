"""An environment variable kept in C strings of our own, set with putenv() (see traceenv).
Cold: imported once a worker has set traceenv.SWITCH_AFTER distinct trace ids.

Two buffers alternate, so that only a pointer swap is visible to other threads, as with
setenv(). Buffers are never freed (C code may hold pointers into them); they grow by
doubling for longer values, up to MAX_ROOM. C code that keeps a pointer from getenv() across
two more invocations sees it change (setenv() would have leaked the old string instead).
Values over MAX_ROOM or with a NUL byte are refused (`set` returns False): setenv() then.
"""
ROOM = 256  # first buffers' room for a value (X-Ray headers are ~100 bytes)
MAX_ROOM = 16 * 1024  # buffers grow by doubling up to this


class Buffers(object):
    """Two `name=value` C strings of our own; the live one is in the C environment."""

    def __init__(self, environ, name):
        import ctypes

        libc = ctypes.CDLL(None)
        self._putenv = libc.putenv
        self._putenv.argtypes = (ctypes.c_void_p,)
        self._putenv.restype = ctypes.c_int
        getenv = libc.getenv
        getenv.argtypes = (ctypes.c_char_p,)
        getenv.restype = ctypes.c_void_p
        self._ctypes = ctypes
        self._environ = environ
        self._data = environ._data
        self._key = environ.encodekey(name)
        self._encode = environ.encodevalue
        self._offset = len(self._key) + 1  # where the value starts, after "name="
        self._kept = []  # every buffer ever given to putenv(): C code may hold pointers into it
        self._room = 0
        self._grow(ROOM)
        # Check on the current value (or a probe) that C sees our buffer.
        current = environ.get(name)
        if not self.set("probe" if current is None else current):
            raise OSError("putenv() failed")
        if getenv(self._key) != self._addresses[self._live] + self._offset:
            raise OSError("getenv() does not see putenv()'s buffer")
        if current is None:
            del environ[name]

    def _grow(self, size):
        while self._room < size:
            self._room = max(ROOM, self._room * 2)
        ctypes = self._ctypes
        prefix = self._key + b"="
        pair = [ctypes.create_string_buffer(prefix, self._offset + self._room + 1)
                for _ in range(2)]
        self._kept.extend(pair)
        self._addresses = [ctypes.addressof(b) for b in pair]
        self._live = 0

    def set(self, value):
        """Make `value` the variable's; False if it cannot be done here (use setenv())."""
        raw = self._encode(value)
        size = len(raw)
        if size > self._room:
            if size > MAX_ROOM:
                return False
            self._grow(size)
        if b"\0" in raw:
            return False
        spare = 1 - self._live
        address = self._addresses[spare]
        self._ctypes.memmove(address + self._offset, raw + b"\0", size + 1)
        if self._putenv(address) != 0:
            return False
        self._live = spare
        self._data[self._key] = raw
        return True
