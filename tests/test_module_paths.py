"""Tests of what `require` finds in a handler: what a Lambda function would find, nothing more.

A handler sees its task root, the project's rocks tree (the nearest lua_modules/ folder in the
task root or above it), /opt/lua (layers) and moonrun's own library. A module that is only on
this machine's Lua paths (a Debian package such as lua-filesystem or lua-dkjson, or LUA_PATH) is
an error that names it and its file, under `moonrun invoke`, the runtime loop (against the Runtime
API test server), `moonrun dev` and `moonrun repl`; `moonrun run` keeps lua's paths.

The machine modules used are Debian's lfs (a C module, lua-filesystem) and dkjson (Lua,
lua-dkjson), both brought by lua-busted; a missing one fails the test naming the package.

Run from the repository root: python3 -m unittest -v tests/test_module_paths.py
Environment: MOONRUN_BIN (default build/moonrun), MOONRUN_TIMEOUT_SCALE (default 1).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from runtime_api import RuntimeAPI, NEXT_PATH  # noqa: E402

MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE") or "1")
MULTIARCH = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() \
    or "x86_64-linux-gnu"
LFS = f"/usr/lib/{MULTIARCH}/lua/5.4/lfs.so"
DKJSON = "/usr/share/lua/5.4/dkjson.lua"
WOULD_NOT = "but a Lambda function would not see it: declare it in the project's rockspec"


def seconds(s):
    return s * SCALE


def machine_only(name, path):
    return f"module '{name}' is installed on this machine ({path}) {WOULD_NOT}"


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUA_", "AWS_", "_HANDLER", "LAMBDA_TASK_ROOT"))}
    env.update(AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="test-secret", AWS_REGION="us-east-1",
               AWS_CONFIG_FILE="/nonexistent/config", AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials")
    env.update(extra)
    return env


# A handler that requires event.module and answers with the outcome and the search paths.
PROBE = """\
local M = {}
function M.handler(event)
  local ok, value = pcall(require, event.module)
  return {ok = ok, error = not ok and tostring(value) or nil,
          value = ok and type(value) == "table" and value.answer or nil,
          file = event.module and package.searchpath(event.module, package.path)
                 or event.module and package.searchpath(event.module, package.cpath) or nil,
          path = package.path, cpath = package.cpath}
end
return M
"""


class ProjectTestCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        for path, package in ((LFS, "lua-filesystem"), (DKJSON, "lua-dkjson")):
            if not os.path.isfile(path):
                raise AssertionError(f"{path} is missing: install Debian's {package} (setup.sh test does)")

    def setUp(self):
        self.tmp = os.path.realpath(tempfile.mkdtemp(prefix="moonrun-paths-test-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def write(self, relpath, text):
        full = os.path.join(self.tmp, relpath)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
        return full

    def invoke(self, module, task_root, handler="probe.handler", env=None, cwd=None):
        p = subprocess.run([MOONRUN, "invoke", handler, "--event", "-"],
                           input=json.dumps({"module": module}).encode(), capture_output=True,
                           env=clean_env(LAMBDA_TASK_ROOT=task_root, **(env or {})),
                           cwd=cwd or self.tmp, timeout=seconds(60))
        out = p.stdout.decode()
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.fail(f"no JSON answer (exit {p.returncode}): {out}\n{p.stderr.decode()}")
        return p.returncode, answer, p.stderr.decode()


class TestInvoke(ProjectTestCase):

    def setUp(self):
        super().setUp()
        self.root = os.path.dirname(self.write("src/probe.lua", PROBE))

    def test_a_debian_c_module_is_an_error_naming_it(self):
        code, answer, _ = self.invoke("lfs", self.root)
        self.assertEqual(code, 0, answer)
        self.assertFalse(answer["ok"])
        self.assertIn(machine_only("lfs", LFS), answer["error"])

    def test_a_debian_lua_module_is_an_error_naming_it(self):
        _, answer, _ = self.invoke("dkjson", self.root)
        self.assertFalse(answer["ok"])
        self.assertIn(machine_only("dkjson", DKJSON), answer["error"])

    def test_a_dotted_machine_module_is_named_with_its_file(self):
        # penlight (pl.path) comes with busted too; the dotted name maps to pl/path.lua
        if not os.path.isfile("/usr/share/lua/5.4/pl/path.lua"):
            self.fail("/usr/share/lua/5.4/pl/path.lua is missing: install Debian's lua-penlight")
        _, answer, _ = self.invoke("pl.path", self.root)
        self.assertIn(machine_only("pl.path", "/usr/share/lua/5.4/pl/path.lua"), answer["error"])

    def test_a_module_required_at_load_time_fails_the_handler(self):
        self.write("src/loads_lfs.lua", "local lfs = require 'lfs'\nreturn {handler = function() return 1 end}\n")
        code, answer, stderr = self.invoke(None, self.root, handler="loads_lfs.handler")
        self.assertEqual(code, 1, answer)
        self.assertIn(machine_only("lfs", LFS), answer["errorMessage"])
        self.assertNotIn("Segmentation", stderr)

    def test_a_module_nowhere_is_lua_s_not_found(self):
        _, answer, _ = self.invoke("no_such_module_anywhere", self.root)
        self.assertIn("module 'no_such_module_anywhere' not found:", answer["error"])
        self.assertNotIn("installed on this machine", answer["error"])
        self.assertIn(f"no file '{self.root}/no_such_module_anywhere.lua'", answer["error"])
        self.assertIn("no file '/opt/lua/no_such_module_anywhere.lua'", answer["error"])
        self.assertNotIn("/usr/share/lua", answer["error"])

    def test_lua_path_from_the_environment_is_this_machine_s(self):
        # LUA_PATH is a setting of this machine's lua, not of the function: not searched, and a
        # module found through it is named
        extra = os.path.dirname(self.write("elsewhere/local_only.lua", "return {answer = 42}\n"))
        _, answer, _ = self.invoke("local_only", self.root, env={"LUA_PATH": extra + "/?.lua;;"})
        self.assertIn(machine_only("local_only", extra + "/local_only.lua"), answer["error"])
        self.assertNotIn(extra, answer["path"])

    def test_the_paths_are_lambda_s(self):
        _, answer, _ = self.invoke("moonrun.json", self.root)
        self.assertTrue(answer["ok"])
        library = os.path.join(os.path.dirname(os.path.realpath(MOONRUN)), "..", "lua")
        library = os.path.realpath(library) if os.path.isdir(library) else None
        expected = [f"{self.root}/?.lua", f"{self.root}/?/init.lua", "/opt/lua/?.lua", "/opt/lua/?/init.lua"]
        if library:  # a build tree: ../lua beside the executable
            expected += [f"{library}/?.lua", f"{library}/?/init.lua"]
        self.assertEqual(answer["path"].split(";"), expected)
        self.assertEqual(answer["cpath"].split(";"), [f"{self.root}/?.so", "/opt/lua/?.so"])

    def test_the_project_tree_is_found_above_the_task_root(self):
        # lua_modules/ as `luarocks --tree lua_modules` lays it out, beside src/ (the task root)
        self.write("lua_modules/share/lua/5.4/declared.lua", "return {answer = 'declared'}\n")
        c_dir = os.path.join(self.tmp, "lua_modules", "lib", "lua", "5.4")
        os.makedirs(c_dir)
        shutil.copy(LFS, os.path.join(c_dir, "lfs.so"))
        _, answer, _ = self.invoke("declared", self.root)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["value"], "declared")
        self.assertEqual(answer["file"], f"{self.tmp}/lua_modules/share/lua/5.4/declared.lua")
        _, answer, _ = self.invoke("lfs", self.root)
        self.assertTrue(answer["ok"], answer)
        self.assertEqual(answer["file"], f"{c_dir}/lfs.so")
        self.assertIn(f"{self.tmp}/lua_modules/lib/lua/5.4/?.so", answer["cpath"].split(";"))

    def test_the_task_root_comes_before_the_project_tree(self):
        self.write("lua_modules/share/lua/5.4/both.lua", "return {answer = 'tree'}\n")
        self.write("src/both.lua", "return {answer = 'task root'}\n")
        _, answer, _ = self.invoke("both", self.root)
        self.assertEqual(answer["value"], "task root")

    def test_layer_dirs_stand_in_for_opt_the_last_layer_first(self):
        # what moonrun dev sets for a function with layers of its template that are folders
        first, second = os.path.join(self.tmp, "layer1"), os.path.join(self.tmp, "layer2")
        self.write("layer1/lua/shared.lua", "return {answer = 'first'}\n")
        self.write("layer2/lua/shared.lua", "return {answer = 'second'}\n")
        self.write("layer1/lua/only_first.lua", "return {answer = 'only first'}\n")
        env = {"MOONRUN_LAYER_DIRS": f"{first}:{second}"}
        _, answer, _ = self.invoke("shared", self.root, env=env)
        self.assertEqual(answer["value"], "second", answer)  # a later layer overwrites an earlier one in /opt
        _, answer, _ = self.invoke("only_first", self.root, env=env)
        self.assertEqual(answer["value"], "only first", answer)
        self.assertEqual(answer["path"].split(";")[2:8],
                         [f"{second}/lua/?.lua", f"{second}/lua/?/init.lua", f"{first}/lua/?.lua",
                          f"{first}/lua/?/init.lua", "/opt/lua/?.lua", "/opt/lua/?/init.lua"])
        self.assertEqual(answer["cpath"].split(";"),
                         [f"{self.root}/?.so", f"{second}/lua/?.so", f"{first}/lua/?.so", "/opt/lua/?.so"])
        # empty entries (a leading, trailing or doubled ':') are skipped
        _, answer, _ = self.invoke("shared", self.root, env={"MOONRUN_LAYER_DIRS": f":{first}::"})
        self.assertEqual(answer["value"], "first", answer)
        self.assertEqual(answer["cpath"].split(";"), [f"{self.root}/?.so", f"{first}/lua/?.so", "/opt/lua/?.so"])

    def test_the_current_folder_does_not_matter(self):
        # a module in the folder invoke runs from, but not in the task root: Lambda would not
        # see it (lua's default path has ./?.lua)
        self.write("cwd_only.lua", "return {answer = 1}\n")
        _, answer, _ = self.invoke("cwd_only", self.root, cwd=self.tmp)
        self.assertFalse(answer["ok"])
        self.assertIn(WOULD_NOT, answer["error"])


class TestRunAndRepl(ProjectTestCase):

    def test_run_keeps_lua_s_paths(self):
        p = subprocess.run([MOONRUN, "run", "-e", "print(require('lfs')._VERSION, require('dkjson').version)"],
                           capture_output=True, text=True, env=clean_env(), cwd=self.tmp, timeout=seconds(30))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^LuaFileSystem \S+\s+dkjson \S+")

    def test_repl_sees_a_handler_s_paths(self):
        p = subprocess.run([MOONRUN, "repl"], input="print(select(2, pcall(require, 'dkjson')))\n",
                           capture_output=True, text=True, env=clean_env(LAMBDA_TASK_ROOT=self.tmp),
                           cwd=self.tmp, timeout=seconds(30))
        self.assertIn(machine_only("dkjson", DKJSON), p.stdout + p.stderr)


class TestRuntimeLoop(ProjectTestCase):
    """The bootstrap itself, against the Runtime API test server."""

    def start(self, handler, task_root):
        api = RuntimeAPI()
        api.start()
        self.addCleanup(api.stop)
        proc = subprocess.Popen([MOONRUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=clean_env(AWS_LAMBDA_RUNTIME_API=api.address, _HANDLER=handler,
                                              LAMBDA_TASK_ROOT=task_root))

        def finish():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(seconds(10))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        self.addCleanup(finish)
        return api, proc

    def test_init_error_names_the_machine_module(self):
        root = os.path.dirname(self.write("fn/app.lua", "local lfs = require 'lfs'\nreturn {handler = function() end}\n"))
        api, proc = self.start("app.handler", root)
        api.wait_for(lambda: api.init_errors() or api.requests_matching("GET", NEXT_PATH),
                     seconds(15), "an init error")
        [err] = api.init_errors()
        body = err.json()
        self.assertIn(machine_only("lfs", LFS), body["errorMessage"])
        self.assertNotEqual(proc.wait(seconds(10)), 0)
        self.assertEqual(api.requests_matching("GET", NEXT_PATH), [])

    def test_invocation_error_names_the_machine_module_and_the_loop_goes_on(self):
        root = os.path.dirname(self.write("fn/probe.lua", PROBE))
        self.write("lua_modules/share/lua/5.4/declared.lua", "return {answer = 'declared'}\n")
        api, proc = self.start("probe.handler", root)
        api.push({"module": "dkjson"})
        api.push({"module": "declared"})
        first, second = api.wait_results(2, seconds(15))
        self.assertEqual(first.kind, "response", first)
        self.assertIn(machine_only("dkjson", DKJSON), first.json()["error"])
        self.assertEqual(second.json()["value"], "declared")


DEV_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Uses:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: uses_lfs.handler
      Runtime: provided.al2023
  Probe:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: probe.handler
      Runtime: provided.al2023
"""


def start_dev(test, moonrun, folder, template="template.yaml"):
    """`moonrun dev` on folder's template; returns (process, invoke base URL). Stopped at cleanup."""
    proc = subprocess.Popen([moonrun, "dev", template, "--port", "0", "--sqs-port", "0",
                             "--state", os.path.join(folder, ".state")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=folder, env=clean_env())
    lines, found = [], threading.Event()
    base = []

    def read():
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            m = re.search(r"\binvoke\s+(http://[0-9.]+:\d+)/2015-03-31/functions/", line)
            if m and not base:
                base.append(m.group(1))
                found.set()
        found.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(seconds(20))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        proc.stdout.close()
    test.addCleanup(stop)
    found.wait(seconds(60))
    if not base:
        test.fail("moonrun dev did not print its invoke endpoint:\n" + "\n".join(lines))
    return proc, base[0], lines


def dev_invoke(base, name, event):
    request = urllib.request.Request(f"{base}/2015-03-31/functions/{name}/invocations",
                                     data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=seconds(60)) as response:
        return response.headers.get("X-Amz-Function-Error"), json.loads(response.read())


class TestDev(ProjectTestCase):

    def test_dev_functions_see_lambda_s_paths(self):
        self.write("src/probe.lua", PROBE)
        self.write("src/uses_lfs.lua", "local lfs = require 'lfs'\nreturn {handler = function() return 1 end}\n")
        self.write("lua_modules/share/lua/5.4/declared.lua", "return {answer = 'declared'}\n")
        self.write("template.yaml", DEV_TEMPLATE)
        proc, base, lines = start_dev(self, MOONRUN, self.tmp)
        error_kind, answer = dev_invoke(base, "Uses", {})
        self.assertEqual(error_kind, "Unhandled", answer)
        self.assertIn(machine_only("lfs", LFS), answer["errorMessage"])
        error_kind, answer = dev_invoke(base, "Probe", {"module": "declared"})
        self.assertIsNone(error_kind, answer)
        self.assertEqual(answer["value"], "declared")
        error_kind, answer = dev_invoke(base, "Probe", {"module": "dkjson"})
        self.assertIn(machine_only("dkjson", DKJSON), answer["error"])
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(seconds(20)), 0, "\n".join(lines))


if __name__ == "__main__":
    unittest.main()
