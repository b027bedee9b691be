"""Tests of `moonrun run`, which runs a Lua script the way the standalone lua 5.4 interpreter does:
options, the arg table, stdin, #! lines, LUA_INIT, errors and exit statuses, module search, and
busted running the Lua specs (tests/lua/*_spec.lua) inside moonrun.

Run from the repository root: python3 -m unittest -v tests/test_run.py
Environment: MOONRUN_BIN (default build/moonrun), BUSTED (default /usr/bin/busted).
"""

import os
import signal
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(REPO, "build", "moonrun")))
BUSTED = os.environ.get("BUSTED", "/usr/bin/busted")
FIXTURES = os.path.join(HERE, "run")
TIMEOUT = 30


def moonrun(*args, stdin=None, env=None, cwd=FIXTURES, timeout=TIMEOUT):
    """Runs `moonrun run ARGS...`; returns the CompletedProcess with text stdout and stderr."""
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("LUA_INIT", "LUA_INIT_5_4", "LUA_PATH", "LUA_PATH_5_4",
                             "LUA_CPATH", "LUA_CPATH_5_4", "LAMBDA_TASK_ROOT")}
    full_env.update(env or {})
    return subprocess.run([MOONRUN, "run", *args], input=stdin, capture_output=True, text=True,
                          errors="replace", env=full_env, cwd=cwd, timeout=timeout)


def arg_lines(stdout):
    """Parses args.lua's output into ({index: value}, [values of ...])."""
    table, dots = {}, []
    for line in stdout.splitlines():
        if line.startswith("arg["):
            index, value = line[4:].split("]=", 1)
            table[int(index)] = value
        elif line.startswith("...["):
            dots.append(line.split("]=", 1)[1])
    return table, dots


class TestArguments(unittest.TestCase):
    def test_coroutines_behave_as_in_lua(self):
        """moonrun tracks coroutine.resume and wrap for deadlines; what Lua code sees is unchanged."""
        script = "\n".join([
            'local f = coroutine.wrap(function() error("boom") end)',
            'print(pcall(f))', 'print(pcall(function() coroutine.wrap(function() error("again") end)() end))',
            'print(type(select(2, pcall(coroutine.wrap(function() error({}) end)))))',
            'local co = coroutine.create(function(a, b) return coroutine.yield(a + b) * 2 end)',
            'print(coroutine.resume(co, 1, 2))', 'print(coroutine.resume(co, 5))',
            'print(coroutine.resume(co))', 'print(pcall(coroutine.resume, 42))',
            'print(pcall(coroutine.wrap, 1))',
            'local w = coroutine.wrap(function(...) return coroutine.yield(...) end)',
            'print(w(1, 2, 3))', 'print(w("back"))', 'print(pcall(w))', ""])
        p = moonrun("-", stdin=script)
        self.assertEqual(p.stdout.splitlines(), [
            "false\tstdin:1: boom", "false\tstdin:3: stdin:3: again", "table", "true\t3", "true\t10", "false\tcannot resume dead coroutine",
            "false\tbad argument #1 to 'coroutine.resume' (thread expected, got number)",
            "false\tbad argument #1 to 'coroutine.wrap' (function expected, got number)",
            "1\t2\t3", "back", "false\tcannot resume dead coroutine"], p.stderr)

    def test_arg_table_and_dots(self):
        p = moonrun("args.lua", "one", "two words", "")
        self.assertEqual(p.returncode, 0, p.stderr)
        table, dots = arg_lines(p.stdout)
        self.assertEqual(table[0], "args.lua")
        self.assertEqual([table[1], table[2], table[3]], ["one", "two words", ""])
        self.assertEqual(table[-1], "run")
        self.assertEqual(os.path.realpath(table[-2]), os.path.realpath(MOONRUN),
                         "the lowest index is the moonrun executable, as lua puts its own path")
        self.assertEqual(min(table), -2)
        self.assertIn("n=3", p.stdout)
        self.assertEqual(dots, ["one", "two words", ""])

    def test_options_get_negative_indices(self):
        p = moonrun("-e", "x = 1", "-W", "--", "args.lua", "a")
        self.assertEqual(p.returncode, 0, p.stderr)
        table, dots = arg_lines(p.stdout)
        self.assertEqual([table[i] for i in range(-6, 2)],
                         [table[-6], "run", "-e", "x = 1", "-W", "--", "args.lua", "a"])
        self.assertEqual(min(table), -6)
        self.assertEqual(dots, ["a"])

    def test_script_arguments_that_look_like_options_are_the_scripts(self):
        p = moonrun("args.lua", "-x", "--help", "-e")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(arg_lines(p.stdout)[1], ["-x", "--help", "-e"])

    def test_without_a_script_arg0_is_the_interpreter(self):
        p = moonrun("-e", "print(arg[0] ~= nil, arg[1], arg[2], arg[3])")
        self.assertEqual(p.stdout, "true\trun\t-e\tprint(arg[0] ~= nil, arg[1], arg[2], arg[3])\n")


class TestOptions(unittest.TestCase):
    def test_several_e_run_in_order(self):
        p = moonrun("-e", "x = 20", "-e", "x = x + 1", "-e", "print(x * 2)")
        self.assertEqual((p.returncode, p.stdout), (0, "42\n"), p.stderr)

    def test_e_glued_to_its_statement(self):
        self.assertEqual(moonrun("-eprint('glued')").stdout, "glued\n")

    def test_e_before_a_script(self):
        p = moonrun("-e", "GREETING = 'set by -e'", "-e", "print(GREETING)", "args.lua", "z")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("set by -e\narg["), p.stdout)

    def test_l_requires_into_a_global(self):
        p = moonrun("-l", "lib.greeting", "-e", "print(type(_G['lib.greeting']))",
                    env={"LAMBDA_TASK_ROOT": os.path.join(FIXTURES, "task_root")})
        self.assertEqual(p.stdout, "table\n", p.stderr)

    def test_l_with_a_global_name(self):
        p = moonrun("-l", "json=moonrun.json", "-e", "print(json.encode{1, 2})")
        self.assertEqual((p.returncode, p.stdout), (0, "[1,2]\n"), p.stderr)

    def test_l_of_a_missing_module_fails(self):
        p = moonrun("-l", "no_such_module", "-e", "print('not reached')")
        self.assertEqual(p.returncode, 1)
        self.assertIn("module 'no_such_module' not found", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_version(self):
        p = moonrun("-v")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^moonrun \d+\.\d+\.\d+ \(Lua 5\.4\.\d+\)\n$")

    def test_version_then_script(self):
        p = moonrun("-v", "-e", "print('after')")
        self.assertRegex(p.stdout, r"^moonrun .*\(Lua 5\.4\.\d+\)\nafter\n$")

    def test_warnings_are_off_until_W(self):
        self.assertEqual(moonrun("-e", "warn('hidden')").stderr, "")
        self.assertIn("Lua warning: shown", moonrun("-W", "-e", "warn('shown')").stderr)

    def test_help(self):
        for flag in ("--help", "-h"):
            p = moonrun(flag)
            self.assertEqual(p.returncode, 0)
            for option in ("-e STAT", "-l NAME", "-v", "-W", "-E", "--", "LUA_INIT"):
                self.assertIn(option, p.stdout)

    def test_unknown_option(self):
        p = moonrun("-q", "args.lua")
        self.assertEqual(p.returncode, 2)
        self.assertIn("unrecognized option '-q'", p.stderr)
        self.assertIn("usage: moonrun run", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_option_missing_its_argument(self):
        for option in ("-e", "-l"):
            p = moonrun(option)
            self.assertEqual(p.returncode, 2)
            self.assertIn(f"'{option}' needs an argument", p.stderr)

    def test_interactive_points_to_repl(self):
        p = moonrun("-i")
        self.assertEqual(p.returncode, 2)
        self.assertIn("moonrun repl", p.stderr)

    def test_nothing_to_run(self):
        p = moonrun()
        self.assertEqual(p.returncode, 2)
        self.assertIn("usage: moonrun run", p.stderr)


class TestInit(unittest.TestCase):
    def test_lua_init_runs_first(self):
        p = moonrun("-e", "print(FROM_INIT)", env={"LUA_INIT": "FROM_INIT = 'init'"})
        self.assertEqual(p.stdout, "init\n", p.stderr)

    def test_versioned_lua_init_wins(self):
        p = moonrun("-e", "print(FROM_INIT)",
                    env={"LUA_INIT": "FROM_INIT = 'plain'", "LUA_INIT_5_4": "FROM_INIT = '5.4'"})
        self.assertEqual(p.stdout, "5.4\n", p.stderr)

    def test_lua_init_from_a_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write("FROM_INIT = 'file'\n")
        self.addCleanup(os.unlink, f.name)
        p = moonrun("-e", "print(FROM_INIT)", env={"LUA_INIT": "@" + f.name})
        self.assertEqual(p.stdout, "file\n", p.stderr)

    def test_E_ignores_init_and_paths(self):
        p = moonrun("-E", "-e", "print(FROM_INIT, package.path:find('/nowhere', 1, true))",
                    env={"LUA_INIT": "FROM_INIT = 'init'", "LUA_PATH": "/nowhere/?.lua"})
        self.assertEqual(p.stdout, "nil\tnil\n", p.stderr)

    def test_lua_path_is_used_without_E(self):
        p = moonrun("-e", "print(package.path:find('/nowhere', 1, true) ~= nil)",
                    env={"LUA_PATH": "/nowhere/?.lua;;"})
        self.assertEqual(p.stdout, "true\n", p.stderr)

    def test_failing_init_stops(self):
        p = moonrun("-e", "print('not reached')", env={"LUA_INIT": "error('bad init')"})
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad init", p.stderr)
        self.assertEqual(p.stdout, "")


class TestScripts(unittest.TestCase):
    def test_script_from_stdin(self):
        p = moonrun("-", "x", "y", stdin="print('stdin', arg[0], ...)\n")
        self.assertEqual((p.returncode, p.stdout), (0, "stdin\t-\tx\ty\n"), p.stderr)

    def test_shebang_line_in_a_file(self):
        p = moonrun("shebang.lua", "A")
        self.assertEqual((p.returncode, p.stdout), (0, "after the shebang\tA\n"), p.stderr)

    def test_shebang_line_on_stdin(self):
        p = moonrun("-", stdin="#!/usr/bin/env lua\nprint('stdin shebang')\n")
        self.assertEqual((p.returncode, p.stdout), (0, "stdin shebang\n"), p.stderr)

    def test_requires_from_task_root_and_moonrun_json(self):
        p = moonrun("uses_modules.lua", env={"LAMBDA_TASK_ROOT": os.path.join(FIXTURES, "task_root")})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, 'hello, run\n{"n":9007199254740993}\n')

    def test_task_root_defaults_to_the_current_directory(self):
        p = moonrun("../uses_modules.lua", cwd=os.path.join(FIXTURES, "task_root"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout.startswith("hello, run\n"))

    def test_standard_system_paths_are_kept(self):
        p = moonrun("-e", "print(package.path) print(package.cpath)")
        self.assertIn("/usr/share/lua/5.4/?.lua", p.stdout)
        self.assertIn("/usr/local/lib/lua/5.4/?.so", p.stdout)


class TestExitStatus(unittest.TestCase):
    def test_normal_end(self):
        self.assertEqual(moonrun("-e", "x = 1").returncode, 0)

    def test_os_exit(self):
        for code, expected in (("3", 3), ("0", 0), ("false", 1), ("true", 0)):
            with self.subTest(code=code):
                p = moonrun("-e", f"io.write('flushed') os.exit({code})")
                self.assertEqual(p.returncode, expected)
                self.assertEqual(p.stdout, "flushed", "stdout is flushed on os.exit")

    def test_syntax_error_names_file_and_line(self):
        p = moonrun("syntax_error.lua")
        self.assertEqual(p.returncode, 1)
        self.assertIn("moonrun: syntax_error.lua:3:", p.stderr)
        self.assertIn("unexpected symbol near '='", p.stderr)

    def test_syntax_error_in_e(self):
        p = moonrun("-e", "x = = 1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("(command line):1:", p.stderr)

    def test_runtime_error_has_a_traceback(self):
        p = moonrun("runtime_error.lua")
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith("moonrun: runtime_error.lua:3: attempt to index"), p.stderr)
        self.assertIn("stack traceback:", p.stderr)
        self.assertIn("runtime_error.lua:3: in ", p.stderr)
        self.assertIn("runtime_error.lua:7: in ", p.stderr)
        self.assertIn("runtime_error.lua:11: in main chunk", p.stderr)

    def test_error_objects_that_are_not_strings(self):
        p = moonrun("error_object.lua", "tostring")
        self.assertEqual(p.returncode, 1)
        self.assertIn("moonrun: custom error object", p.stderr)
        p = moonrun("error_object.lua")
        self.assertEqual(p.returncode, 1)
        self.assertIn("moonrun: (error object is a table value)", p.stderr)
        self.assertIn("stack traceback:", p.stderr)

    def test_missing_script(self):
        p = moonrun("no_such_script.lua")
        self.assertEqual(p.returncode, 1)
        self.assertIn("moonrun: cannot open no_such_script.lua", p.stderr)
        self.assertEqual(p.stdout, "")

    def test_ctrl_c_interrupts_the_script(self):
        proc = subprocess.Popen([MOONRUN, "run", "spin.lua"], cwd=FIXTURES, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), "spinning\n")
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual(proc.returncode, 1)
        self.assertIn("interrupted!", stderr)
        self.assertIn("stack traceback:", stderr)


@unittest.skipUnless(os.path.exists(BUSTED), f"busted is not installed ({BUSTED}; Debian: lua-busted)")
class TestBusted(unittest.TestCase):
    def busted(self, *args):
        return moonrun(BUSTED, *args, cwd=REPO, env={"LAMBDA_TASK_ROOT": REPO}, timeout=120)

    def test_json_spec_passes(self):
        p = self.busted("-o", "TAP", "tests/lua/json_spec.lua")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("not ok", p.stdout)
        self.assertRegex(p.stdout, r"\n1\.\.[1-9]\d*\n")

    def test_failing_spec_fails(self):
        p = self.busted("-o", "TAP", "tests/run/busted_failing")
        self.assertNotEqual(p.returncode, 0, "busted's failures must reach the exit status")
        self.assertIn("not ok", p.stdout)


if __name__ == "__main__":
    unittest.main()
