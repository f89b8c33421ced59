"""`FERRIC_SHIM_PREPARE=1`, what `ferric prepare` runs at image build time: compile every
module into the cache, so that cold starts load the shim instead of compiling it. Cold."""
import os
import sys

from . import codecache
from .bundle import CAPTURE_LINE, FILENAME_PREFIX


def prepare(importer, hot, directory, name, key):
    """Write the cache with every module's code (`hot` as the modules to load at start), say
    where on stdout and exit 0; or say why not on stderr and exit 1. Loads no handler."""
    os.umask(0o22)  # readable by the unprivileged user Lambda runs functions as
    try:
        if not key:
            raise ValueError("no FERRIC_SHIM_KEY")
        for file_name in importer.index:
            if file_name.endswith(".py") and file_name not in importer.codes:
                # compile(), not exec(): a cold module's code must not run here.
                importer.codes[file_name] = compile(
                    importer.source(file_name) + CAPTURE_LINE, FILENAME_PREFIX + file_name,
                    "exec", dont_inherit=True)
        path = codecache.write(importer, hot, directory, name)
    except Exception as e:
        sys.exit("ferric: cannot cache the Python shim in %r: %s" % (directory, e))
    print("ferric: compiled the Python shim into %s" % path)
    sys.exit(0)
