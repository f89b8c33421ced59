# ferric's Python worker boot program (src/shims/python/boot.py): `python -c <this> HANDLER`.
# It reads the bundle of worker modules on FERRIC_SHIM_FD, takes their code from the cache in
# FERRIC_SHIM_CACHE if valid and trusted, and runs the worker (worker/bundle.py, worker/main.py).
def _ferric():
    import marshal
    import os
    import sys
    del globals()["_ferric"]
    env = os.environ.get
    try:
        fd = int(env("FERRIC_SHIM_FD"))
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        os.close(fd)  # user code and its children must not get it
        index = {}
        for line in data[:data.index(b"\n\n")].decode().split("\n")[1:]:
            offset, size, name = line.split(" ")
            index[name] = int(offset), int(size)
        offset, size = index["bundle.py"]
    except Exception as e:
        sys.exit("ferric python shim: no bundle on FERRIC_SHIM_FD: %r" % e)
    code = data[offset:offset + size]
    key, cache, cached = env("FERRIC_SHIM_KEY"), env("FERRIC_SHIM_CACHE") or "", None
    name = "shim-%s-%s-%s-%x-O%d" % (
        key, sys.implementation.cache_tag,
        sys.modules["_frozen_importlib_external"].MAGIC_NUMBER[:2].hex(),
        sys.hexversion, sys.flags.optimize)
    try:
        st = os.stat(cache)
        # Trusted: owned by root or by this user, and not writable by group or others.
        trusted = st.st_uid in (0, os.getuid()) and not st.st_mode & 0o22
        if trusted and key and env("FERRIC_SHIM_PREPARE") != "1":
            with open(os.path.join(cache, name), "rb") as f:
                b = f.read()
            if b[:len(name) + 1] == (name + "\n").encode():
                cached = marshal.loads(memoryview(b)[len(name) + 1:])
                c = marshal.loads(cached[1]["bundle.py"])
                if type(c) is type(sys._getframe().f_code):
                    code = c
    except Exception:
        pass
    m = type(sys)("_ferric.bundle")
    exec(code, m.__dict__)
    main = m.install(m, data, index, cached, cache, name)
    return main.__code__, main.__globals__


exec(*_ferric())  # not a call: see the stack depth in worker/main.py
