"""The C fixtures of tests/modules that are preloaded (LD_PRELOAD) into moonrun to change what
the system does under it: frozen_clock.c (the wall clock stands still), late_wait.c (long waits
start late). Each is built once per test process with cc and the project's warnings, in a
scratch folder removed at exit; one that does not build fails the test that asked for it."""

import atexit
import os
import shutil
import subprocess
import tempfile

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "modules")
_built = {}
_scratch = []


def preload_env(fixture, **variables):
    """Environment for a moonrun with tests/modules/FIXTURE.c preloaded, and the fixture's
    variables."""
    if fixture not in _built:
        if not _scratch:
            _scratch.append(tempfile.mkdtemp(prefix="moonrun-fixtures-"))
            atexit.register(shutil.rmtree, _scratch[0], True)
        out = os.path.join(_scratch[0], fixture + ".so")
        built = subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", out,
                                os.path.join(FIXTURES, fixture + ".c"), "-ldl"], capture_output=True, text=True)
        if built.returncode != 0:
            raise AssertionError(f"tests/modules/{fixture}.c does not build:\n{built.stderr}")
        _built[fixture] = out
    # under ASan the preloaded library comes before the sanitizer's runtime: harmless here
    asan = os.environ.get("ASAN_OPTIONS", "")
    return dict(variables, LD_PRELOAD=_built[fixture],
                ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
