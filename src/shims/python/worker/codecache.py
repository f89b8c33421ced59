"""Writing the compiled-code cache that boot.py reads.

The cache file is `FERRIC_SHIM_CACHE/shim-KEY-TAG-MAGIC-HEXVERSION-O<optimize>` (boot.py names
it): that name on the first line, then the `marshal`led pair (hot file names in load order,
{file name: `marshal`led code object}), so that a start unmarshals only the code it runs.
It is used only in a directory owned by root or by this user and not writable by group or
others: anyone else could plant code there (e.g. in a shared /tmp). Cold: imported by starts
that had to compile code, and by `prepare`.
"""
import marshal
import os
import sys


def save(importer, hot, directory, name):
    """Cache the code `importer` holds (the hot modules at least), ignoring failures: Lambda's
    file system is read-only but for /tmp, and the next start just compiles again."""
    try:
        write(importer, hot, directory, name)
    except Exception:
        pass


def write(importer, hot, directory, name):
    """Write the cache file `name` in `directory` atomically; return its path."""
    if not directory:
        raise ValueError("no cache directory")
    if not sys.implementation.cache_tag:
        raise ValueError("this Python caches no bytecode")
    blobs = dict(importer.blobs)
    for file_name, code in importer.codes.items():
        if file_name not in blobs:
            blobs[file_name] = marshal.dumps(code)
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        os.makedirs(directory, 0o755)
        os.chmod(directory, 0o755)
        st = os.stat(directory)
    if st.st_uid not in (0, os.getuid()) or st.st_mode & 0o22:
        # boot.py would not trust it: others could plant code there.
        raise ValueError("it is writable by group or others, or owned by another user")
    path = os.path.join(directory, name)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as f:
            f.write((name + "\n").encode() + marshal.dumps((hot, blobs)))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
