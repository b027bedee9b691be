"""A project's dependencies, end to end: declared in the rockspec `moonrun init` writes, installed
by Debian's luarocks from a local rocks server (tests/rocks_server.py, the rocks of tests/rocks/)
into the project's lua_modules/, and seen by `moonrun invoke`, `moonrun test`, `moonrun repl` and
the functions of `moonrun dev`, which install them themselves when the rockspec changed, and
call no luarocks when it did not. Also: the machine's own modules refused, and the errors of a
rock the server does not have, a C rock that does not compile, a dependency conflict and an
invalid rockspec, each leaving the last working tree in place.

Run from the repository root: python3 -m unittest -v tests/test_deps.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
Needs Debian's luarocks (bootstrap/setup.sh installs it).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from rocks_server import build_server  # noqa: E402

MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
NAME = "shop"
ROCKSPEC = f"{NAME}-dev-1.rockspec"
CANNOT = "the project's dependencies cannot be installed: "

# A handler using the pure-Lua rock (through the rock that depends on it) and the C rock, and
# telling what a module of this machine gives (Debian's dkjson, /usr/share/lua/5.4).
USES = """\
local dependent = require "mrtest_dependent"
local cmod = require "mrtest_cmod"
local M = {}
function M.handler(event)
  local ok, err = pcall(require, "dkjson")
  return {text = dependent.welcome(event.name or "nobody"), sum = cmod.add(2, 3), arch = cmod.arch,
          machine = ok and "loaded" or tostring(err)}
end
return M
"""

SERVER_DIR = None
SERVER = None


def setUpModule():
    global SERVER_DIR, SERVER
    SERVER_DIR = tempfile.mkdtemp(prefix="moonrun-rocks-")
    SERVER = build_server(SERVER_DIR)


def tearDownModule():
    shutil.rmtree(SERVER_DIR, ignore_errors=True)


def summary(p):
    return f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"


def read(path):
    with open(path) as f:
        return f.read()


class DepsTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="moonrun-deps-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.project = os.path.join(self.tmp, NAME)
        # luarocks's cache and configuration of this test only
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home)
        p = self.run_moonrun("init", self.project, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, summary(p))
        self.tree = os.path.join(self.project, "lua_modules")

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "LUA_", "MOONRUN_ROCKS")) and k != "LAMBDA_TASK_ROOT"}
        env.update(HOME=self.home, NO_COLOR="1", MOONRUN_ROCKS_SERVER=SERVER,
                   AWS_CONFIG_FILE="/nonexistent/config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials")
        env.update(extra)
        return env

    def run_moonrun(self, *args, cwd=None, timeout=120, input=None, **env):
        return subprocess.run([MOONRUN, *args], cwd=cwd or self.project, capture_output=True, text=True,
                              timeout=timeout * SCALE, input=input, env=self.env(**env))

    def write(self, relpath, text):
        path = os.path.join(self.project, relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
        return path

    def declare(self, *dependencies):
        """Replaces the dependencies of the rockspec moonrun init wrote."""
        path = os.path.join(self.project, ROCKSPEC)
        text = read(path)
        listed = "".join(f'  "{d}",\n' for d in ("lua >= 5.4",) + dependencies)
        new, count = re.subn(r"dependencies = \{\n.*?\n\}", "dependencies = {\n" + listed + "}", text, flags=re.S)
        self.assertEqual(count, 1, "the scaffold's rockspec has no dependencies = {...} block:\n" + text)
        with open(path, "w") as f:
            f.write(new)

    def invoke(self, handler="src/uses.handler", event=None, **env):
        args = ["invoke", handler]
        if event is not None:
            path = os.path.join(self.tmp, "event.json")
            with open(path, "w") as f:
                json.dump(event, f)
            args += ["--event", path]
        return self.run_moonrun(*args, **env)

    def answer(self, p):
        self.assertEqual(p.returncode, 0, summary(p))
        return json.loads(p.stdout.strip().splitlines()[-1])

    def failing_luarocks(self):
        """A PATH whose luarocks records being called and fails: a run that uses it must not call it."""
        bin_dir = os.path.join(self.tmp, "fake-bin")
        os.makedirs(bin_dir, exist_ok=True)
        marker = os.path.join(self.tmp, "luarocks-called")
        script = os.path.join(bin_dir, "luarocks")
        with open(script, "w") as f:
            f.write(f"#!/bin/sh\necho \"$@\" >> '{marker}'\nexit 1\n")
        os.chmod(script, 0o755)
        return bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"), marker

    def installed_files(self):
        found = []
        for d, _, names in os.walk(self.tree):
            for n in names:
                if n.endswith((".lua", ".so")):
                    found.append(os.path.relpath(os.path.join(d, n), self.tree))
        return sorted(found)


class TestInvoke(DepsTestCase):
    def test_installs_then_uses_the_pure_and_c_rocks_and_reuses_the_tree(self):
        self.declare("mrtest-dependent", "mrtest-cmod >= 1.0")
        self.write("src/uses.lua", USES)
        p = self.invoke(event={"name": "ada"})
        answer = self.answer(p)
        self.assertEqual(answer["text"], "hello ada from mrtest-pure 2.0, via mrtest-dependent")
        self.assertEqual(answer["sum"], 5)
        self.assertEqual(answer["arch"], os.uname().machine.replace("arm64", "aarch64"))
        self.assertIn(f"installing the dependencies of {ROCKSPEC} into lua_modules/", p.stderr)
        self.assertIn("lua_modules/ holds mrtest-cmod 1.0-1, mrtest-dependent 1.0-1, mrtest-pure 2.0-1", p.stderr)
        # the machine's module is refused, with what to do
        self.assertIn("module 'dkjson' is installed on this machine (/usr/share/lua/5.4/dkjson.lua) but a "
                      "Lambda function would not see it: declare it in the project's rockspec", answer["machine"])
        self.assertEqual(self.installed_files(), ["lib/lua/5.4/mrtest_cmod.so", "share/lua/5.4/mrtest_dependent.lua",
                                                  "share/lua/5.4/mrtest_pure.lua"])
        # unchanged rockspec: no luarocks at all (the PATH's luarocks would fail and leave a mark)
        path, marker = self.failing_luarocks()
        started = time.monotonic()
        p = self.invoke(event={"name": "bob"}, PATH=path)
        elapsed = time.monotonic() - started
        self.assertEqual(self.answer(p)["text"], "hello bob from mrtest-pure 2.0, via mrtest-dependent")
        self.assertNotIn("installing", p.stderr)
        self.assertFalse(os.path.exists(marker), "luarocks was called for an unchanged rockspec")
        self.assertLess(elapsed, 5 * SCALE)
        # a changed rockspec calls it (and here fails: the failure is reported, exit 2)
        self.declare("mrtest-dependent")
        p = self.invoke(PATH=path)
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertTrue(os.path.exists(marker))
        self.assertIn(CANNOT + "luarocks failed", p.stderr)
        self.assertIn(os.path.join(self.project, ".moonrun", "deps.log"), p.stderr)

    def test_a_rock_no_longer_declared_leaves_the_tree(self):
        self.declare("mrtest-dependent", "mrtest-cmod")
        self.write("src/uses.lua", USES)
        self.answer(self.invoke())
        self.declare("mrtest-dependent")
        p = self.invoke()
        self.assertEqual(p.returncode, 1, summary(p))
        self.assertIn("module 'mrtest_cmod' not found", p.stdout + p.stderr)
        self.assertEqual(self.installed_files(),
                         ["share/lua/5.4/mrtest_dependent.lua", "share/lua/5.4/mrtest_pure.lua"])
        # the version constraint is followed: < 2 gives the older pure-Lua rock
        self.declare("mrtest-dependent", "mrtest-cmod", "mrtest-pure < 2")
        self.assertEqual(self.answer(self.invoke())["text"], "hello nobody from mrtest-pure 1.0, via mrtest-dependent")

    def test_a_project_without_dependencies_needs_no_luarocks(self):
        path, marker = self.failing_luarocks()
        self.write("src/plain.lua", "return {handler = function() return {ok = true} end}\n")
        self.assertEqual(self.answer(self.invoke("src/plain.handler", PATH=path)), {"ok": True})
        self.assertFalse(os.path.exists(marker))
        self.assertFalse(os.path.exists(self.tree))


class TestTestAndRepl(DepsTestCase):
    def test_moonrun_test_sees_the_rocks_in_specs_and_handlers(self):
        self.declare("mrtest-dependent", "mrtest-cmod")
        self.write("src/uses.lua", USES)
        self.write("spec/uses_spec.lua", """\
            local testing = require "moonrun.testing"
            local cmod = require "mrtest_cmod"
            describe("a handler using rocks", function()
              it("gets the pure-Lua rock and the C rock", function()
                local answer, err = testing.invoke("src/uses.handler", {name = "spec"})
                assert.is_nil(err)
                assert.equal("hello spec from mrtest-pure 2.0, via mrtest-dependent", answer.text)
                assert.equal(5, answer.sum)
                assert.equal(7, cmod.add(3, 4))
              end)
            end)
            """)
        p = self.run_moonrun("test", "spec/uses_spec.lua")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("1 success / 0 failures / 0 errors", p.stdout)
        self.assertIn("lua_modules/ holds mrtest-cmod 1.0-1", p.stderr)

    def test_moonrun_test_refuses_an_undeclared_machine_module(self):
        machine = os.path.join(self.tmp, "machine")
        os.makedirs(machine)
        with open(os.path.join(machine, "machinemod.lua"), "w") as f:
            f.write("return {}\n")
        self.declare("mrtest-pure")
        self.write("spec/machine_spec.lua", """\
            describe("requires", function()
              it("finds the declared rock", function() assert.equal("2.0", require("mrtest_pure").version) end)
              it("refuses the machine's module", function()
                local ok, err = pcall(require, "machinemod")
                assert.is_false(ok)
                assert.truthy(tostring(err):find("installed on this machine", 1, true), tostring(err))
                assert.truthy(tostring(err):find("declare it in the project's rockspec", 1, true), tostring(err))
              end)
            end)
            """)
        p = self.run_moonrun("test", "spec/machine_spec.lua", LUA_PATH=machine + "/?.lua;;")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("2 successes / 0 failures / 0 errors", p.stdout)

    def test_repl_sees_the_rocks(self):
        self.declare("mrtest-cmod")
        p = self.run_moonrun("repl", input='print(require("mrtest_cmod").add(40, 2))\n'
                                            'print(select(2, pcall(require, "lfs")))\n')
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("42", p.stdout)
        self.assertIn("module 'lfs' is installed on this machine", p.stdout + p.stderr)


class TestDev(DepsTestCase):
    def test_a_dev_function_uses_the_rocks_and_follows_the_rockspec(self):
        self.declare("mrtest-dependent", "mrtest-cmod")
        # the scaffold's producer (POST /send) replaced by a handler using the rocks
        self.write("src/producer.lua", """\
            local json = require "moonrun.json"
            local dependent = require "mrtest_dependent"
            local cmod = require "mrtest_cmod"
            local has_pinned, pinned = pcall(require, "mrtest_pinned")
            return {handler = function()
              local ok, err = pcall(require, "dkjson")
              return {statusCode = 200, body = json.encode{text = dependent.welcome("dev"), sum = cmod.add(1, 1),
                                                           machine = ok and "loaded" or tostring(err),
                                                           pinned = has_pinned and pinned.pure_version or "missing"}}
            end}
            """)
        out_path = os.path.join(self.tmp, "dev.out")
        with open(out_path, "w") as out:
            dev = subprocess.Popen([MOONRUN, "dev", "--port", "0", "--sqs-port", "0"], cwd=self.project,
                                   stdout=out, stderr=subprocess.STDOUT, env=self.env())

        def wait_for(pattern):
            deadline = time.monotonic() + 60 * SCALE
            while True:
                m = re.search(pattern, read(out_path))
                if m:
                    return m
                self.assertIsNone(dev.poll(), read(out_path))
                self.assertLess(time.monotonic(), deadline, read(out_path))
                time.sleep(0.1)

        try:
            front = wait_for(r"http\s+(http://127\.0\.0\.1:\d+) POST /send -> Producer").group(1)

            def send():
                request = urllib.request.Request(front + "/send", method="POST", data=b"{}")
                with urllib.request.urlopen(request, timeout=60 * SCALE) as response:
                    return json.load(response)
            body = send()
            self.assertEqual(body["text"], "hello dev from mrtest-pure 2.0, via mrtest-dependent")
            self.assertEqual(body["sum"], 2)
            self.assertEqual(body["pinned"], "missing")
            self.assertIn("module 'dkjson' is installed on this machine", body["machine"])
            self.assertIn("lua_modules/ holds mrtest-cmod 1.0-1", read(out_path))
            # a rock added to the rockspec while dev runs: installed, and the function reloads
            # (mrtest-pinned brings mrtest-pure 1.0, which mrtest-dependent accepts)
            self.declare("mrtest-dependent", "mrtest-cmod", "mrtest-pinned")
            body = send()
            self.assertEqual(body["pinned"], "1.0")
            self.assertEqual(body["text"], "hello dev from mrtest-pure 1.0, via mrtest-dependent")
            self.assertIn("Producer: dependencies changed, reloading", read(out_path))
            # a rockspec that fails: a warning, once, and the last tree still serves
            self.declare("mrtest-dependent", "mrtest-cmod", "mrtest-pinned", "mrtest-broken")
            self.assertEqual(send()["pinned"], "1.0")
            self.assertEqual(send()["pinned"], "1.0")
            output = read(out_path)
            self.assertEqual(output.count("the C module of rock 'mrtest-broken' 1.0-1 does not compile"), 1, output)
            self.assertIn("(the functions keep the dependencies installed last)", output)
            # the compiler's lines, not what luarocks said about the rocks installed before
            warning = output[output.index("does not compile"):output.index("(the whole build")]
            self.assertIn("mrtest_undeclared_value", warning)
            self.assertNotIn("is now installed", warning)
        finally:
            dev.send_signal(signal.SIGTERM)
            self.assertEqual(dev.wait(30 * SCALE), 0, read(out_path))

    def test_dev_stops_on_a_dependency_error(self):
        self.declare("mrtest-nonexistent")
        p = self.run_moonrun("dev", "--port", "0", "--sqs-port", "0", timeout=60)
        self.assertEqual(p.returncode, 1, summary(p))
        self.assertIn(CANNOT + "no rock 'mrtest-nonexistent'", p.stderr + p.stdout)


class TestErrors(DepsTestCase):
    def setUp(self):
        super().setUp()
        # a working tree first: every failure below must leave it in place
        self.declare("mrtest-cmod")
        self.write("src/uses.lua", "return {handler = function() return require('mrtest_cmod').add(1, 2) end}\n")
        self.assertEqual(self.answer(self.invoke()), 3)

    def assert_tree_kept(self):
        self.assertEqual(self.installed_files(), ["lib/lua/5.4/mrtest_cmod.so"])
        self.assertEqual([n for n in os.listdir(self.project) if n.startswith("lua_modules.")], [])
        self.assertEqual([n for n in os.listdir(os.path.join(self.project, ".moonrun")) if n.startswith("lua_modules")],
                         [])

    def test_a_rock_the_server_does_not_have(self):
        self.declare("mrtest-cmod", "mrtest-nonexistent >= 1.0")
        p = self.invoke()
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn(CANNOT + f"no rock 'mrtest-nonexistent >= 1.0' on the rocks servers ({SERVER})", p.stderr)
        self.assertIn(ROCKSPEC, p.stderr)
        self.assertNotIn("traceback", p.stderr.lower())
        self.assert_tree_kept()
        # a version the server does not have is the same error
        self.declare("mrtest-cmod >= 3")
        p = self.invoke()
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("no rock 'mrtest-cmod >= 3'", p.stderr)

    def test_a_server_that_cannot_be_read_and_its_password(self):
        # a server that refuses connections, with a password in its URL
        server = "http://builder:s3cret-token@127.0.0.1:9/rocks"
        path, marker = self.failing_luarocks()
        # another server alone does not make the tree stale (no luarocks called)
        self.assertEqual(self.answer(self.invoke(MOONRUN_ROCKS_SERVER=server, PATH=path)), 3)
        self.assertFalse(os.path.exists(marker))
        self.declare("mrtest-cmod >= 1.0")
        p = self.invoke(MOONRUN_ROCKS_SERVER=server)
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn(CANNOT + "no rock 'mrtest-cmod >= 1.0' on the rocks servers (http://***@127.0.0.1:9/rocks); "
                      "1 of them could not be read (http://***@127.0.0.1:9/rocks: ", p.stderr)
        log = read(os.path.join(self.project, ".moonrun", "deps.log"))
        self.assertIn("127.0.0.1:9/rocks", log)
        for text in (p.stdout, p.stderr, log, read(os.path.join(self.tree, ".moonrun-deps"))):
            self.assertNotIn("s3cret", text)
        self.assert_tree_kept()

    def test_a_c_rock_that_does_not_compile(self):
        self.declare("mrtest-cmod", "mrtest-broken")
        p = self.invoke()
        self.assertEqual(p.returncode, 2, summary(p))
        log = os.path.join(self.project, ".moonrun", "deps.log")
        self.assertIn(CANNOT + "the C module of rock 'mrtest-broken' 1.0-1 does not compile:", p.stderr)
        self.assertIn("mrtest_broken.c:8:24: error:", p.stderr)  # the compiler's own lines
        self.assertIn("mrtest_undeclared_value", p.stderr)
        self.assertIn(f"(the whole build: {log})", p.stderr)
        self.assertIn("Build error", read(log))
        self.assertNotIn("traceback", p.stderr.lower())
        self.assert_tree_kept()

    def test_a_dependency_conflict(self):
        # mrtest-pinned needs mrtest-pure < 2.0; the project asks for >= 2.0
        self.declare("mrtest-cmod", "mrtest-pure >= 2.0", "mrtest-pinned")
        p = self.invoke()
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn(CANNOT + "dependency conflict on 'mrtest-pure': " + ROCKSPEC + " needs mrtest-pure >= 2.0, "
                      "mrtest-pinned 1.0-1 needs mrtest-pure < 2.0; no one version satisfies them all", p.stderr)
        self.assert_tree_kept()

    def test_an_invalid_rockspec(self):
        path = os.path.join(self.project, ROCKSPEC)
        good = read(path)
        lua_line = good[:good.index('"lua >= 5.4"')].count("\n") + 1
        list_line = good[:good.index("dependencies = {")].count("\n") + 1
        at = re.escape(path)
        cases = [
            (good.replace('"lua >= 5.4",', '"lua >= 5.4" "oops",'),
             rf"invalid rockspec {at}:{lua_line}: '}}' expected"),
            (good.replace('"lua >= 5.4",', '"lua >= 5.4", "mrtest-cmod >> 1",'),
             rf"invalid rockspec {at}:{lua_line}: dependency \"mrtest-cmod >> 1\": "
             r"'>> 1' is not a version constraint"),
            (good.replace('"lua >= 5.4",', '"lua >= 5.4", 42,'),
             rf"invalid rockspec {at}:{list_line}: dependencies\[2\] is a number, not a string"),
            (good.replace("dependencies = {", "dependencies = 'x' or {"),
             rf"invalid rockspec {at}:{list_line}: dependencies must be a list of strings"),
            (good + "\nwhile true do end\n", rf"invalid rockspec {at}: it runs too long"),
        ]
        for text, expected in cases:
            with self.subTest(expected=expected):
                with open(path, "w") as f:
                    f.write(text)
                p = self.invoke()
                self.assertEqual(p.returncode, 2, summary(p))
                self.assertRegex(p.stderr, re.escape(CANNOT) + expected)
                self.assertNotIn("installing", p.stderr)
                self.assertNotIn("traceback", p.stderr.lower())
                self.assert_tree_kept()

    def test_two_rockspecs_are_named(self):
        shutil.copy(os.path.join(self.project, ROCKSPEC), os.path.join(self.project, f"{NAME}-1.0-1.rockspec"))
        p = self.invoke()
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn(f"holds 2 rockspecs ({NAME}-1.0-1.rockspec, {ROCKSPEC})", p.stderr)


class TestDepsCommand(DepsTestCase):
    def test_installs_again_on_demand_and_from_a_sub_folder(self):
        self.declare("mrtest-pure")
        p = self.run_moonrun("deps")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("lua_modules/ holds mrtest-pure 2.0-1", p.stdout)
        stamp = os.path.join(self.tree, ".moonrun-deps")
        first = os.stat(stamp).st_mtime_ns
        # from src/ it finds the project above; it always installs, even when nothing changed
        p = self.run_moonrun("deps", cwd=os.path.join(self.project, "src"))
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("lua_modules/ holds mrtest-pure 2.0-1", p.stdout)
        self.assertNotEqual(os.stat(stamp).st_mtime_ns, first)
        # a folder given
        p = self.run_moonrun("deps", self.project, cwd=self.tmp)
        self.assertEqual(p.returncode, 0, summary(p))

    def test_bad_use(self):
        p = self.run_moonrun("deps", "--help")
        self.assertEqual(p.returncode, 0, summary(p))
        self.assertIn("usage: moonrun deps [DIR]", p.stdout)
        self.assertIn("MOONRUN_ROCKS_SERVER", p.stdout)
        outside = os.path.join(self.tmp, "not-a-project")
        os.makedirs(outside)
        p = self.run_moonrun("deps", cwd=outside)
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("this is not a project", p.stderr)
        p = self.run_moonrun("deps", "--frobnicate")
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("unknown option '--frobnicate'", p.stderr)
        p = self.run_moonrun("deps", os.path.join(self.tmp, "missing"))
        self.assertEqual(p.returncode, 2, summary(p))
        self.assertIn("no such folder", p.stderr)

    def test_luarocks_missing_is_named(self):
        self.declare("mrtest-pure")
        empty = os.path.join(self.tmp, "empty-bin")
        os.makedirs(empty)
        # a PATH with the shell's tools but no luarocks
        for tool in ("sh", "env", "stdbuf", "rm", "mkdir", "pwd"):
            found = shutil.which(tool)
            if found:
                os.symlink(found, os.path.join(empty, tool))
        p = self.run_moonrun("deps", PATH=empty)
        self.assertEqual(p.returncode, 1, summary(p))
        self.assertIn("luarocks is not installed: apt-get install luarocks", p.stderr)


if __name__ == "__main__":
    unittest.main()
