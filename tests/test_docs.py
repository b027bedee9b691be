"""The docs held against the code, so they cannot drift from it:

- every relative link and `#anchor` in README.md, CONTRIBUTING.md and docs/*.md (and in every other
  Markdown file of the repository, such as bench/README.md) resolves, anchors computed from
  headings as GitHub computes them; every fenced block of the manual names its language;
- every ```sh / ```bash / ```console block parses (`bash -n`), and each `moonrun COMMAND --option`
  in it names a command and options that the built moonrun's `moonrun COMMAND --help` lists;
- every ```lua block compiles with the built moonrun (`load`); a block marked on the line just
  before it with `<!-- check: invoke EVENT [FUNCTION] -->` (EVENT inline JSON or a file of the
  repository, FUNCTION default `handler`) is a whole handler, run with `moonrun invoke`, which must
  succeed;
- the man page docs/moonrun.1 names every command of `moonrun --help`, every option of each
  `moonrun COMMAND --help`, every MOONRUN_* variable of docs/configuration.md's Environment
  table (its build settings are not the environment's) and src/core/version.h's
  version, and renders without warnings (groff -man -ww -z; man --warnings -l too when man-db is
  installed).

The checkers are tested first on broken input (a dead link and anchor, an unknown option, a Lua
syntax error, a failing handler), so a checker that reports nothing fails this suite.

Run from the repository root: python3 -m unittest -v tests/test_docs.py
Environment: MOONRUN_BIN (default build/moonrun).
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun")))
MAN_PAGE = os.path.join(ROOT, "docs", "moonrun.1")
SHELL_LANGUAGES = ("sh", "bash", "console")
CHECK_MARK = re.compile(r"<!--\s*check:\s*invoke\s+(.*?)\s*-->\s*$")


def doc_files():
    return [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CONTRIBUTING.md")] + \
        sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def markdown_files():
    """Every Markdown file of the repository (build folders and npm's packages left out)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not (d.startswith((".", "build")) or d in ("node_modules", "dist")))
        found += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".md")]
    return found


def rel(path):
    return os.path.relpath(path, ROOT)


# ---- reading Markdown: fenced blocks, headings, links -------------------------------------------

def blocks(text):
    """(language, first line number, code, the line before the fence) of each fenced block."""
    lines = text.split("\n")
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^(`{3,})(.*)$", lines[i])
        if not fence:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence.group(1)):
            end += 1
        if end == len(lines):
            raise AssertionError(f"line {i + 1}: a code block that is never closed")
        before = lines[i - 1] if i > 0 else ""
        found.append((fence.group(2).strip(), i + 2, "\n".join(lines[i + 1:end]) + "\n", before))
        i = end + 1
    return found


def prose(text):
    """The lines outside fenced blocks, with their numbers (inline code spans blanked)."""
    out, fence = [], None
    for number, line in enumerate(text.split("\n"), 1):
        mark = re.match(r"^(`{3,})", line)
        if fence:
            if line.startswith(fence):
                fence = None
            continue
        if mark:
            fence = mark.group(1)
            continue
        out.append((number, re.sub(r"(`+)(?:(?!\1).)+?\1", lambda m: " " * len(m.group(0)), line)))
    return out


def slug(heading):
    """GitHub's anchor for a heading: formatting dropped, lower case, punctuation removed, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    found, seen = set(), {}
    for _, line in prose_with_code(text):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def prose_with_code(text):
    """Lines outside fenced blocks, inline code kept (a heading's anchor includes its code spans)."""
    out, fence = [], None
    for number, line in enumerate(text.split("\n"), 1):
        mark = re.match(r"^(`{3,})", line)
        if fence:
            if line.startswith(fence):
                fence = None
        elif mark:
            fence = mark.group(1)
        else:
            out.append((number, line))
    return out


def link_problems(path, text, read=None):
    """Each relative link or anchor of the Markdown TEXT (at PATH) that does not resolve."""
    read = read or read_text
    problems = []
    for number, line in prose(text):
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
            where = f"{rel(path)}:{number}: {target}"
            if not os.path.exists(dest):
                problems.append(f"{where}: no file {rel(dest)}")
            elif anchor:
                if not dest.endswith(".md"):
                    problems.append(f"{where}: an anchor into a file that is not Markdown")
                elif anchor not in anchors(text if dest == path else read(dest)):
                    problems.append(f"{where}: no heading in {rel(dest)} makes the anchor #{anchor}")
    return problems


# ---- what the built moonrun says about itself ---------------------------------------------------

def run_moonrun(*args, **kw):
    return subprocess.run([MOONRUN, *args], capture_output=True, text=True, timeout=60, **kw)


_help_cache = {}


def help_text(*words):
    """`moonrun WORDS --help`'s text (stdout and stderr: some commands print usage to stderr)."""
    if words not in _help_cache:
        p = run_moonrun(*words, "--help")
        _help_cache[words] = p.stdout + p.stderr
    return _help_cache[words]


def commands():
    """The commands `moonrun --help` lists (invoke, run, ...)."""
    names = re.findall(r"^\s*(?:usage:\s*)?moonrun ([a-z][a-z-]*)\b", help_text(), re.M)
    return list(dict.fromkeys(names))


def options(text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text))


def event_types():
    return set(re.findall(r"^  ([a-z][a-z0-9-]+)\s{2,}", help_text("event"), re.M))


def logical_lines(code):
    """The shell CODE as one line: continuations joined, comments dropped, each unquoted newline a `;`."""
    out, quote, i = [], None, 0
    code = code.replace("\\\n", " ")
    while i < len(code):
        c = code[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                out.append(c)
                i += 1
                c = code[i] if i < len(code) else ""
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or code[i - 1] in " \t\n;|&("):
            while i < len(code) and code[i] != "\n":
                i += 1
            continue
        elif c == "\n":
            c = ";"
        out.append(c)
        i += 1
    return ["".join(out)]


def simple_commands(line):
    """The words of each simple command of one shell LINE (split at |, &&, ;, ...; comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.commenters = ""
    current = []
    for token in lexer:
        if token and all(c in "|&;()<>" for c in token):
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def moonrun_arguments(words):
    """The arguments after `moonrun` when the simple command WORDS runs moonrun, else None."""
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] in ("sudo", "env", "time", "exec")):
        words = words[1:]  # NAME=VALUE assignments and the wrappers that run the next word
    if words and os.path.basename(words[0]) == "moonrun":
        return words[1:]
    return None


def command_problems(code, known_commands):
    """Each `moonrun COMMAND --option` in the shell CODE that moonrun does not have."""
    problems = []
    for line in logical_lines(code):
        try:
            commands_here = list(simple_commands(line))
        except ValueError as e:
            problems.append(f"cannot split {line!r} into words: {e}")
            continue
        for words in commands_here:
            args = moonrun_arguments(words)
            if args:
                problems += moonrun_problems(args, known_commands)
    return problems


def moonrun_problems(args, known_commands):
    command, rest = args[0], args[1:]
    if command.startswith("-"):  # moonrun --help, moonrun --version
        return [f"moonrun {flag}: moonrun --help lists no {flag.split('=')[0]}" for flag in args
                if flag.startswith("--") and flag.split("=")[0] not in options(help_text())]
    if command not in known_commands:
        if re.match(r"^[a-z][a-z-]*$", command):
            return [f"moonrun {command}: not a command of moonrun --help ({', '.join(known_commands)})"]
        return []  # moonrun module.function (the runtime loop), or a placeholder such as HANDLER
    listed = options(help_text(command))
    if command == "event" and rest and rest[0] in event_types():
        listed = options(help_text("event", rest[0]))
        rest = rest[1:]
    problems = []
    for arg in rest:
        if arg == "--":
            break  # the rest is another program's (busted's, the script's)
        if command == "run" and not arg.startswith("-"):
            break  # the script: what follows is its own arguments
        flag = arg.split("=")[0]
        if re.match(r"^--[a-z]", flag) and flag not in listed:
            problems.append(f"moonrun {command} {flag}: moonrun {command} --help lists no {flag}")
    return problems


def lua_problems(chunks):
    """Compiles each (name, code) with the built moonrun's Lua; the names of those that do not."""
    with tempfile.TemporaryDirectory(prefix="moonrun-docs-") as tmp:
        paths = []
        for n, (name, code) in enumerate(chunks):
            path = os.path.join(tmp, f"{n}.lua")
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
            paths.append(path)
        script = os.path.join(tmp, "check.lua")
        with open(script, "w") as f:
            f.write("for i = 1, #arg do\n"
                    "  local f = assert(io.open(arg[i]))\n"
                    "  local text = f:read('a'); f:close()\n"
                    "  local ok, err = load(text, '=block')\n"
                    "  if not ok then print(i .. '\\t' .. err) end\n"
                    "end\n")
        p = run_moonrun("run", script, *paths)
        if p.returncode != 0:
            raise AssertionError(f"moonrun run failed: {p.stderr}")
        problems = []
        for line in p.stdout.splitlines():
            index, _, message = line.partition("\t")
            problems.append(f"{chunks[int(index) - 1][0]}: {message}")
        return problems


def invoke_problem(name, code, mark):
    """Runs the handler CODE with `moonrun invoke` on the event MARK names; None when it succeeds."""
    parts = re.match(r"^(\{.*\}|\S+)(?:\s+([A-Za-z_]\w*))?$", mark.strip())
    if not parts:
        return f"{name}: the check mark is not `invoke EVENT [FUNCTION]`: {mark}"
    event, function = parts.group(1), parts.group(2) or "handler"
    with tempfile.TemporaryDirectory(prefix="moonrun-docs-handler-") as tmp:
        with open(os.path.join(tmp, "doc_handler.lua"), "w", encoding="utf-8") as f:
            f.write(code)
        if event.startswith("{"):
            try:
                json.loads(event)
            except ValueError as e:
                return f"{name}: the check's inline event is not JSON ({e})"
            event_file = os.path.join(tmp, "event.json")
            with open(event_file, "w") as f:
                f.write(event)
        else:
            event_file = os.path.join(ROOT, event)
            if not os.path.isfile(event_file):
                return f"{name}: the check's event file {event} does not exist"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "LUA_", "_HANDLER", "LAMBDA_TASK_ROOT"))}
        env.update(LAMBDA_TASK_ROOT=tmp, AWS_REGION="us-east-1")
        p = subprocess.run([MOONRUN, "invoke", f"doc_handler.{function}", "--event", event_file],
                           capture_output=True, text=True, cwd=tmp, env=env, timeout=60)
        if p.returncode != 0:
            return f"{name}: moonrun invoke exited {p.returncode}: {p.stdout[-600:]}{p.stderr[-600:]}"
    return None


def man_render_problems(page):
    problems = []
    if not shutil.which("groff"):
        return ["groff is not installed (Debian's groff-base; ./bootstrap/setup.sh test installs it)"]
    p = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or p.stderr.strip():
        problems.append(f"groff -man -ww -z: exit {p.returncode}: {p.stderr.strip()}")
    if shutil.which("man"):
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
        p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, timeout=60,
                           env=env)
        if p.returncode != 0 or p.stderr.strip():
            problems.append(f"man --warnings -l: exit {p.returncode}: {p.stderr.strip()}")
    return problems


# ---- the checks on the repository's docs --------------------------------------------------------

def all_blocks():
    for path in doc_files():
        with open(path, encoding="utf-8") as f:
            for language, line, code, before in blocks(f.read()):
                yield path, language, line, code, before


class BinaryTestCase(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        if not os.access(MOONRUN, os.X_OK):
            raise AssertionError(f"no moonrun executable at {MOONRUN} (build it, or set MOONRUN_BIN)")


class TestCheckersFindBreakage(BinaryTestCase):
    """Each checker on input broken on purpose: it must report it."""

    def test_a_dead_link_and_a_dead_anchor(self):
        text = ("# Title\n\n## A `code` heading: yes\n\nSee [here](#a-code-heading-yes), [there](#nowhere),\n"
                "[a page](docs/no-such-page.md), [a page's part](docs/commands.md#no-such-part),\n"
                "[fine](docs/commands.md#synopsis) and `[not a link](#in-code)`.\n"
                "```sh\n[nor this](#in-a-block)\n```\n")
        problems = link_problems(os.path.join(ROOT, "README.md"), text)
        self.assertEqual(len(problems), 3, problems)
        self.assertIn("#nowhere", problems[0])
        self.assertIn("no file docs/no-such-page.md", problems[1])
        self.assertIn("#no-such-part", problems[2])

    def test_duplicate_headings_get_numbered_anchors(self):
        self.assertEqual(anchors("## Errors\n### Errors\n# `moonrun dev`: SQS\n"),
                         {"errors", "errors-1", "moonrun-dev-sqs"})

    def test_an_unknown_command_and_unknown_options(self):
        code = ("moonrun invoke app.handler --event e.json --no-such-flag\n"
                "moonrun dev --port 0 && moonrun serve\n"
                "moonrun event sqs --count 2 --bogus | moonrun invoke app.handler --event -\n"
                "moonrun test -- --busted-option  # after --: busted's\n"
                "build/moonrun run script.lua --script-option\n"
                "cmake --build build --target moonrun && sudo moonrun --verison \\\n  --help\n")
        problems = command_problems(code, commands())
        self.assertEqual(problems, ["moonrun invoke --no-such-flag: moonrun invoke --help lists no --no-such-flag",
                                    f"moonrun serve: not a command of moonrun --help ({', '.join(commands())})",
                                    "moonrun event --bogus: moonrun event --help lists no --bogus",
                                    "moonrun --verison: moonrun --help lists no --verison"], problems)

    def test_a_lua_syntax_error(self):
        problems = lua_problems([("good", "local x = 1\nreturn x\n"), ("bad", "local function f(\nend\n")])
        self.assertEqual(len(problems), 1, problems)
        self.assertTrue(problems[0].startswith("bad: block:"), problems)

    def test_a_failing_handler(self):
        good = "return {handler = function(event) return {hello = event.name} end}\n"
        bad = "return {handler = function(event) error('broken on purpose') end}\n"
        self.assertIsNone(invoke_problem("good", good, '{"name": "x"}'))
        self.assertIn("broken on purpose", invoke_problem("bad", bad, '{"name": "x"}'))
        self.assertIn("does not exist", invoke_problem("file", good, "handlers/events/none.json"))
        self.assertIn("not JSON", invoke_problem("json", good, "{nope}"))

    def test_a_man_page_with_a_warning(self):
        with tempfile.NamedTemporaryFile("w", suffix=".1") as f:
            f.write(".TH X 1\n.SH NAME\nx \\- y\n.BOGUS\n")
            f.flush()
            self.assertTrue(man_render_problems(f.name))


class TestLinks(BinaryTestCase):

    def test_every_relative_link_and_anchor_resolves(self):
        problems = []
        files = markdown_files()
        self.assertTrue(set(doc_files()) <= set(files), "the manual's pages are among the files checked")
        for path in files:
            with open(path, encoding="utf-8") as f:
                problems += link_problems(path, f.read())
        self.assertEqual(problems, [])

    def test_every_block_names_its_language(self):
        bare = [f"{rel(path)}:{line - 1}" for path, language, line, _, _ in all_blocks() if not language]
        self.assertEqual(bare, [], "a fenced block without a language (sh, lua, json, text, ...)")

    def test_the_readme_gives_the_test_command(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            self.assertIn("./bootstrap/setup.sh test", f.read())  # CI runs the command the README gives


class TestShellBlocks(BinaryTestCase):

    def shell_blocks(self):
        for path, language, line, code, _ in all_blocks():
            if language in SHELL_LANGUAGES:
                if language == "console":  # only the commands after a prompt
                    code = "\n".join(re.sub(r"^\$ ", "", ln) for ln in code.splitlines() if ln.startswith("$ "))
                yield f"{rel(path)}:{line}", code

    def test_they_parse(self):
        problems = []
        for where, code in self.shell_blocks():
            p = subprocess.run(["bash", "-n"], input=code, capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                problems.append(f"{where}: {p.stderr.strip()}")
        self.assertEqual(problems, [])

    def test_the_commands_and_options_exist(self):
        known = commands()
        self.assertIn("invoke", known)
        self.assertIn("package", known)
        problems, seen = [], 0
        for where, code in self.shell_blocks():
            seen += code.count("moonrun ")
            problems += [f"{where}: {problem}" for problem in command_problems(code, known)]
        self.assertGreater(seen, 10)  # the docs do show moonrun commands: the checker saw them
        self.assertEqual(problems, [])


    def test_the_commands_in_the_text_exist_too(self):
        # `moonrun dev --reset` in a sentence is as much a promise as a block
        problems, seen = [], 0
        for path in doc_files():
            for number, line in prose_with_code(read_text(path)):
                for span in re.findall(r"`([^`]+)`", line):
                    if re.match(r"^(\S*/)?moonrun\s", span):
                        seen += 1
                        problems += [f"{rel(path)}:{number}: {p}" for p in command_problems(span, commands())]
        self.assertGreater(seen, 50)
        self.assertEqual(problems, [])


class TestLuaBlocks(BinaryTestCase):

    def test_every_block_compiles(self):
        chunks = [(f"{rel(path)}:{line}", code) for path, language, line, code, _ in all_blocks() if language == "lua"]
        self.assertGreater(len(chunks), 5)
        self.assertEqual(lua_problems(chunks), [])

    def test_marked_handlers_run(self):
        marked = [(f"{rel(path)}:{line}", code, CHECK_MARK.search(before).group(1))
                  for path, language, line, code, before in all_blocks()
                  if language == "lua" and CHECK_MARK.search(before)]
        self.assertGreaterEqual(len(marked), 3, "the docs' whole handlers are marked <!-- check: invoke ... -->")
        problems = [problem for problem in (invoke_problem(*m) for m in marked) if problem]
        self.assertEqual(problems, [])

    def test_no_mark_is_left_without_its_block(self):
        problems = []
        for path in doc_files():
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            for n, line in enumerate(lines):
                if line.startswith("<!-- check:") and (not CHECK_MARK.search(line) or n + 1 == len(lines)
                                              or lines[n + 1] != "```lua"):
                    problems.append(f"{rel(path)}:{n + 1}: a check mark not just before a ```lua block")
        self.assertEqual(problems, [])


class TestManPage(BinaryTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        with open(MAN_PAGE, encoding="utf-8") as f:
            cls.page = f.read()
        # the text as a reader sees it: roff's escaped hyphen is a hyphen, font changes dropped
        cls.plain = re.sub(r"\\f[BIRP]", "", cls.page.replace("\\-", "-"))

    def section(self, name):
        match = re.search(rf"^\.SH {name}\n(.*?)(?=^\.SH |\Z)", self.plain, re.M | re.S)
        self.assertIsNotNone(match, f"no {name} section")
        return match.group(1)

    def test_the_sections(self):
        for name in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS",
                     "SEE ALSO"):
            self.section(name)

    def test_every_command(self):
        described = self.section("COMMANDS")
        missing = [c for c in commands() if not re.search(rf"^\.B[IR]? moonrun {c}\b", described, re.M)]
        self.assertEqual(missing, [])

    def test_every_option_of_every_command(self):
        described = self.section("COMMANDS")
        missing = []
        for command in commands():
            for flag in sorted(options(help_text(command)) - {"--help"}):
                if flag not in described:
                    missing.append(f"moonrun {command} {flag}")
        for kind in sorted(event_types()):
            self.assertIn(kind, described)
            for flag in sorted(options(help_text("event", kind)) - {"--help"}):
                if flag not in described:
                    missing.append(f"moonrun event {kind} {flag}")
        self.assertEqual(missing, [])

    def test_every_moonrun_variable_of_the_configuration_page(self):
        text = read_text(os.path.join(ROOT, "docs", "configuration.md"))
        environment = re.search(r"^## Environment\n(.*?)(?=^## |\Z)", text, re.M | re.S)
        self.assertIsNotNone(environment, "docs/configuration.md has no ## Environment section")
        variables = sorted(set(re.findall(r"\bMOONRUN_[A-Z0-9_]+", environment.group(1))))
        self.assertGreater(len(variables), 5)
        environment = self.section("ENVIRONMENT")
        self.assertEqual([v for v in variables if v not in environment], [])

    def test_its_version_is_moonruns(self):
        with open(os.path.join(ROOT, "src", "core", "version.h")) as f:
            version = re.search(r'define MOONRUN_VERSION "([^"]+)"', f.read()).group(1)
        self.assertRegex(self.page, rf'(?m)^\.TH MOONRUN 1 \S+ "moonrun {re.escape(version)}"')

    def test_it_renders_without_warnings(self):
        self.assertEqual(man_render_problems(MAN_PAGE), [])


if __name__ == "__main__":
    unittest.main()
