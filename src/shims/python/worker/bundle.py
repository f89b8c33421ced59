"""The bundle's importer: the worker's modules become the package `_ferric`.

ferric hands every worker one bundle of this directory's files (src/shims/README.md).
boot.py reads it, runs this module's code (from the compiled-code cache when that is valid,
else from the bundle) and calls `install()`, which returns the worker's entry point.

Rules for the worker's modules (one flat directory), which this importer counts on:

* Importing a module only defines things: `FERRIC_SHIM_PREPARE=1` imports the hot modules
  without running a worker.
* *Hot* modules are `main` and everything it imports at module level, directly or not: they
  are loaded at every start, in the order the cache records. The others are *cold*: imported
  inside a function when first needed, so compiled only then (unless `ferric prepare` filled
  the cache). Every line compiled at start costs ~0.25 ms per KiB of code on a cache miss.
* Nothing relies on `__file__` (there is none) or on being importable from disk.
"""
import _imp
import marshal
import os
import sys

# This module's code object, cached with the others.
CODE = sys._getframe().f_code

PACKAGE = "_ferric"
# Modules of the bundle that user code imports by a top-level name (the handlers' API): the
# importer is first on sys.meta_path, so inside a worker these are always the shim's own, even
# when the task root holds a copy (kept there for tests outside ferric).
PUBLIC = {"ferric_lambda": "ferric_lambda.py"}
# Code objects carry FILENAME_PREFIX + the file's name as their file name: tracebacks show
# where shim frames come from (src/shims/python/worker/...), `errors` drops them from
# stackTraces, and linecache gets their lines from get_source().
FILENAME_PREFIX = "<ferric>/python/worker/"
# On a cache miss a module's source is run with exec(), which compiles it without compile()'s
# one-off set-up of the AST types (~1.5 ms in a fresh process); this line, appended to the
# source, hands the code object back to be cached. Cached code runs it too.
CAPTURE = "__ferric_code__"
CAPTURE_LINE = b"\n%s = __import__('sys')._getframe().f_code\n" % CAPTURE.encode()

ModuleSpec = type(sys.__spec__)  # importlib.machinery.ModuleSpec, without importing importlib
CodeType = type(CODE)


class BundleImporter(object):
    """Meta path finder and loader for the modules `_ferric.NAME`, from the bundle's file
    `NAME.py`: its code from the cache, or compiled from its source."""

    def __init__(self, data, index, blobs):
        self.data = data  # the bundle
        self.index = index  # file name -> (offset, size) in the bundle
        self.blobs = blobs  # file name -> marshalled code from the cache, until unmarshalled
        self.codes = {}  # file name -> code object, unmarshalled or compiled here
        self.loaded = []  # file names, in the order their modules finished loading
        self.compiled = False  # some code was not in the cache

    def source(self, name):
        offset, size = self.index[name]
        return self.data[offset:offset + size]

    def file_name(self, fullname):
        """The bundle file of the module `fullname`, or None."""
        package, _, name = fullname.partition(".")
        if package == PACKAGE and name + ".py" in self.index:
            return name + ".py"
        name = PUBLIC.get(fullname)
        return name if name in self.index else None

    def find_spec(self, fullname, path=None, target=None):
        name = self.file_name(fullname)
        if name is None:
            return None
        return ModuleSpec(fullname, self, origin=FILENAME_PREFIX + name)

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        name = self.file_name(module.__name__)
        namespace = module.__dict__
        code = None
        if name in self.blobs:
            try:
                code = marshal.loads(self.blobs.pop(name))
            except Exception:
                pass
            if type(code) is not CodeType or code.co_filename != FILENAME_PREFIX + name:
                code = None
        if code is None:
            exec(self.source(name) + CAPTURE_LINE, namespace)
            code = namespace.pop(CAPTURE)
            _imp._fix_co_filename(code, FILENAME_PREFIX + name)
            self.compiled = True
        else:
            exec(code, namespace)
            namespace.pop(CAPTURE, None)
        self.codes[name] = code
        self.loaded.append(name)

    def load(self, name):
        """Load `name` (a hot module, its dependencies loaded before it) without the import
        system's search, which costs ~20 us a module."""
        fullname = PACKAGE + "." + name[:-3]
        if fullname not in sys.modules:
            module = type(sys)(fullname)
            module.__spec__ = self.find_spec(fullname)
            module.__loader__ = self
            module.__package__ = PACKAGE
            sys.modules[fullname] = module
            self.exec_module(module)
            setattr(sys.modules[PACKAGE], name[:-3], module)

    def get_source(self, fullname):
        name = self.file_name(fullname)
        return self.source(name).decode("utf-8") if name is not None else None

    def is_package(self, fullname):
        return fullname == PACKAGE

    def save(self, hot, cache_dir, cache_name):
        from . import codecache

        codecache.save(self, hot, cache_dir, cache_name)


def install(module, data, index, cached, cache_dir, cache_name):
    """Make the package, load the hot modules and return the worker's entry point.

    `module` is this module, as boot.py ran it; `data` the bundle and `index` its files;
    `cached` what boot.py unmarshalled from the cache file `cache_name` in `cache_dir`, or
    None. A start that compiled code writes the cache after its first answer;
    `FERRIC_SHIM_PREPARE=1` fills it and exits.
    """
    environ = os.environ
    key = environ.pop("FERRIC_SHIM_KEY", "")
    preparing = environ.pop("FERRIC_SHIM_PREPARE", "") == "1"
    environ.pop("FERRIC_SHIM_FD", None)
    environ.pop("FERRIC_SHIM_CACHE", None)
    try:
        hot, blobs = cached
        if not (type(hot) is tuple and type(blobs) is dict and set(hot) <= set(blobs) <= set(
                index) and all(type(b) is bytes for b in blobs.values())):
            raise ValueError
    except (TypeError, ValueError):  # no cache, or not a valid one
        hot, blobs = (), {}
    importer = BundleImporter(data, index, dict(blobs))
    if CODE.co_filename != FILENAME_PREFIX + "bundle.py":  # boot.py ran the source
        _imp._fix_co_filename(CODE, FILENAME_PREFIX + "bundle.py")
        importer.compiled = True
    importer.blobs.pop("bundle.py", None)
    importer.codes["bundle.py"] = CODE

    package = type(sys)(PACKAGE)
    package.__spec__ = ModuleSpec(PACKAGE, importer, is_package=True)
    package.__loader__ = importer
    package.__package__ = PACKAGE
    package.__path__ = []
    sys.modules[PACKAGE] = package
    module.__name__ = PACKAGE + ".bundle"
    module.__spec__ = importer.find_spec(module.__name__)
    module.__loader__ = importer
    module.__package__ = PACKAGE
    sys.modules[module.__name__] = package.bundle = module
    sys.meta_path.insert(0, importer)  # first: it knows its names, quickly (user imports too)

    for name in hot:
        importer.load(name)
    from . import main  # loaded above on a cache hit; compiled now on a miss

    hot = tuple(importer.loaded)
    if preparing:
        from . import prepare

        prepare.prepare(importer, hot, cache_dir, cache_name, key)
    if importer.compiled and key and cache_dir:
        # Once the first answer is out: it then also holds what that invocation compiled.
        from .invoke import after_answer

        after_answer.append(lambda: importer.save(hot, cache_dir, cache_name))
    return main.main
