"""valgrind memcheck around a moonrun process, shared by the valgrind checks: the command that
fails on any invalid access and on any definite or indirect leak, and the verdict from its log."""

import os
import tempfile


class Memcheck:
    def __init__(self, name):
        self.log = tempfile.NamedTemporaryFile(prefix=f"moonrun-{name}-", suffix=".log", delete=False).name

    def command(self, binary):
        return [os.environ.get("VALGRIND", "valgrind"), "--quiet", "--error-exitcode=99",
                "--leak-check=full", "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect", "--log-file=" + self.log, binary]

    def verdict(self, exit_code):
        """Prints the outcome; returns the process exit status for the check (0: clean)."""
        report = open(self.log, encoding="utf-8", errors="replace").read()
        if exit_code != 0 or report.strip():
            print("FAIL: valgrind reported problems (log %s):\n%s" % (self.log, report[-20000:]))
            return 1
        os.unlink(self.log)
        print("OK: no invalid accesses, no leaks")
        return 0
