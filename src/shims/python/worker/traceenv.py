"""`_X_AMZN_TRACE_ID` for user code, set for every invocation without leaking memory.

`os.environ[name] = value` calls setenv(), and glibc's setenv() never frees the strings it
allocates (it keeps them to reuse for the same value later): a new trace id per invocation
leaks ~140-190 bytes each time, ~14-19 MB per 100,000 invocations. So once SWITCH_AFTER
distinct values were set that way, the variable moves to C strings of our own (`putenv`,
cold), which putenv() takes without copying: a new value is written into the buffer not in
use, putenv() swaps it in, and os.environ's mapping is updated directly. os.environ,
os.getenv, getenv() in C and child processes all see the value; an invocation without one
removes it (unsetenv() frees nothing, but allocates nothing either).

ctypes costs a few ms to import: it is loaded after an answer, once SWITCH_AFTER distinct
values leaked (a few KiB). Values the buffers cannot take (see `putenv`) and Pythons without
ctypes go through setenv() as before.
"""
NAME = "_X_AMZN_TRACE_ID"
SWITCH_AFTER = 32  # distinct values set with setenv() before the buffers take over


class TraceEnv(object):
    """Sets or removes the variable before each invocation (`set`). `defer(fn)` has `fn` run
    after the current answer."""

    def __init__(self, environ, defer):
        self.environ = environ
        self._defer = defer
        self._last = None
        self._distinct = 0
        self._buffers = None  # putenv.Buffers once upgraded

    def set(self, value):
        """The invocation's trace id, or None to remove the variable."""
        buffers = self._buffers
        if value is None:
            if NAME in self.environ:
                del self.environ[NAME]  # unsetenv() and the mapping
        elif buffers is None or not buffers.set(value):
            self.environ[NAME] = value  # setenv()
            if value != self._last and buffers is None:
                self._last = value
                self._distinct += 1
                if self._distinct == SWITCH_AFTER:
                    self._defer(self.upgrade)

    def upgrade(self):
        """Move the variable to our buffers; on any failure keep using setenv()."""
        try:
            from .putenv import Buffers

            self._buffers = Buffers(self.environ, NAME)
        except Exception:
            self._buffers = None
