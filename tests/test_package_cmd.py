"""`moonrun package` on a project made by `moonrun init` whose rockspec declares the test rocks
(tests/rocks: a pure-Lua rock, a C rock, a rock depending on another) served by a local LuaRocks
server: what the zips hold, that they run (unpacked in the Debian minbase root file systems of
tests/test_packaging.py, arm64 under qemu-user, against the test Runtime API), that an
unchanged project repackages at once and two packagings give the same bytes, and the errors: a
C rock that does not compile, a shared object needing a newer glibc or a library the base image
lacks, a missing cross compiler, bad arguments.

Needs root (chroot), luarocks, gcc-aarch64-linux-gnu, liblua5.4-dev:arm64, qemu-user-static and
what bootstrap/package.sh needs (moonrun's runtime layer is built from this source tree).
MOONRUN_PACKAGE_WORK (default build/package) is the builds' and root file systems' cache, shared
with tests/test_packaging.py.
"""

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rocks_server import build_server  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402
from test_packaging import HOST_ARCH, OTHER_ARCH, WORK, Rootfs, lambda_env, stop  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOONRUN = os.path.abspath(os.environ.get("MOONRUN_BIN", os.path.join(ROOT, "build", "moonrun")))
SCALE = float(os.environ.get("MOONRUN_TIMEOUT_SCALE", "1"))
ARCHS = ("x86_64", "arm64")
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}

USES_ROCKS = """\
-- requires a pure-Lua rock, one that depends on it and a C rock, at init
local pure = require "mrtest_pure"
local dependent = require "mrtest_dependent"
local cmod = require "mrtest_cmod"

return {handler = function(event)
  return {greeting = pure.greet(event.name), welcome = dependent.welcome(event.name),
          sum = cmod.add(event.a, event.b), arch = cmod.arch}
end}
"""

ROCKSPEC_DEPENDENCIES = '  "lua >= 5.4",\n'


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def package(project, *args, env=None, timeout=1200):
    started, used = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run([MOONRUN, "package", *args], cwd=project, capture_output=True, text=True,
                       timeout=timeout, env=env or package_env())
    p.elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    p.cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    return p


def package_env():
    env = dict(os.environ)
    env["MOONRUN_PACKAGE_WORK"] = WORK
    return env


def make_project(parent, name, dependencies):
    project = os.path.join(parent, name)
    p = subprocess.run([MOONRUN, "init", project], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError(f"moonrun init failed:\n{p.stdout}{p.stderr}")
    [rockspec] = [f for f in os.listdir(project) if f.endswith(".rockspec")]
    path = os.path.join(project, rockspec)
    with open(path) as f:
        text = f.read()
    assert ROCKSPEC_DEPENDENCIES in text, text
    listed = "".join(f'  "{d}",\n' for d in dependencies)
    with open(path, "w") as f:
        f.write(text.replace(ROCKSPEC_DEPENDENCIES, ROCKSPEC_DEPENDENCIES + listed))
    return project


def names(zip_path):
    with zipfile.ZipFile(zip_path) as z:
        return z.namelist()


class PackageCommandTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the package command tests need root (chroot, mount)")
        cls.tmp = tempfile.mkdtemp(prefix="moonrun-package-cmd-")
        cls.server = build_server(cls.tmp)
        cls.project = make_project(cls.tmp, "service", ["mrtest-cmod", "mrtest-dependent"])
        src = os.path.join(cls.project, "src")
        with open(os.path.join(src, "uses.lua"), "w") as f:
            f.write(USES_ROCKS)
        # development files beside the handlers: left out by default and by .moonrunignore
        with open(os.path.join(src, "uses_spec.lua"), "w") as f:
            f.write("-- a spec\n")
        os.makedirs(os.path.join(src, "fixtures"))
        with open(os.path.join(src, "fixtures", "big.json"), "w") as f:
            f.write("{}\n")
        with open(os.path.join(src, "fixtures", "kept.json"), "w") as f:
            f.write("{}\n")
        with open(os.path.join(cls.project, ".moonrunignore"), "w") as f:
            f.write("# test data\nfixtures/\n!fixtures/kept.json\n*.tmp\n")
        with open(os.path.join(src, "scratch.tmp"), "w") as f:
            f.write("x\n")
        cls.first = package(cls.project, "--arch", "all", "--server", cls.server)
        if cls.first.returncode != 0:
            raise AssertionError(f"moonrun package failed:\n{cls.first.stdout}{cls.first.stderr}")
        cls.dist = os.path.join(cls.project, "dist")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def zip(self, name):
        return os.path.join(self.dist, name)

    # --- what dist/ holds ---

    def test_handlers_zip_leaves_out_development_files(self):
        self.assertEqual(sorted(names(self.zip("handlers-src.zip"))),
                         ["consumer.lua", "fixtures/kept.json", "producer.lua", "uses.lua"])
        self.assertRegex(self.first.stdout, r"handlers-src\.zip\s+\d+ bytes\s+4 files from src")

    def test_dependencies_layer_per_arch(self):
        for arch in ARCHS:
            path = self.zip(f"deps-layer-{arch}.zip")
            self.assertEqual(sorted(names(path)), ["lua/mrtest_cmod.so", "lua/mrtest_dependent.lua",
                                                   "lua/mrtest_pure.lua", "moonrun-deps.txt"])
            with zipfile.ZipFile(path) as z:
                listing = z.read("moonrun-deps.txt").decode()
                so = z.read("lua/mrtest_cmod.so")
            for rock in ("mrtest-cmod 1.0-1", "mrtest-dependent 1.0-1", "mrtest-pure 2.0-1"):
                self.assertIn(rock, listing)
            # e_machine: 62 is x86-64, 183 AArch64
            self.assertEqual(int.from_bytes(so[18:20], "little"), {"x86_64": 62, "arm64": 183}[arch], arch)
            self.assertRegex(self.first.stdout, rf"deps-layer-{arch}\.zip\s+\d+ bytes\s+3 rocks")

    def test_runtime_layer_per_arch(self):
        for arch in ARCHS:
            listed = names(self.zip(f"moonrun-layer-{arch}.zip"))
            self.assertIn("bootstrap", listed)
            self.assertIn("lib/libcurl.so.4", listed)
            self.assertIn("lua/moonrun/sqs.lua", listed)
            self.assertFalse([n for n in listed if n.startswith(("lua/moonrun/package", "lua/moonrun/dev"))])

    def test_template_deploys_the_zips_and_passes_cfn_lint(self):
        template = os.path.join(self.project, "template.yaml")
        with open(template) as f:
            text = f.read()
        for arch in ARCHS:
            for kind in ("deps-layer", "moonrun-layer"):
                self.assertIn(f"ContentUri: dist/{kind}-{arch}.zip", text)
                self.assertTrue(os.path.isfile(self.zip(f"{kind}-{arch}.zip")))
        self.assertIn("Runtime: provided.al2023", text)
        self.assertIn("CodeUri: src/", text)  # the folder moonrun dev runs
        # dist/template.yaml: the same, with the handlers zip as the code and paths from dist/
        deployed = os.path.join(self.dist, "template.yaml")
        with open(deployed) as f:
            rewritten = f.read()
        self.assertEqual(rewritten, text.replace("CodeUri: src/", "CodeUri: handlers-src.zip")
                         .replace("ContentUri: dist/", "ContentUri: "))
        self.assertIn("sam deploy --template-file dist/template.yaml", self.first.stdout)
        for path in (template, deployed):
            p = subprocess.run(["cfn-lint", path], capture_output=True, text=True, timeout=300)
            self.assertEqual(p.returncode, 0, path + "\n" + p.stdout + p.stderr)

    def test_deploy_template_of_other_shapes(self):
        # per-function CodeUri, quoted, with a comment; a ContentUri outside dist/
        project = os.path.join(self.tmp, "shapes")
        shutil.copytree(self.project, project, ignore=shutil.ignore_patterns("dist", ".moonrun"))
        os.makedirs(os.path.join(project, "other"))
        shutil.copy(os.path.join(project, "src", "consumer.lua"), os.path.join(project, "other"))
        path = os.path.join(project, "template.yaml")
        with open(path) as f:
            text = f.read()
        text = text.replace("      Handler: consumer.handler\n",
                            "      Handler: consumer.handler\n      CodeUri: './other'   # its own folder\n")
        with open(path, "w") as f:
            f.write(text)
        p = package(project, "--arch", HOST_ARCH, "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"handlers-other\.zip\s+\d+ bytes\s+1 files from other")
        with open(os.path.join(project, "dist", "template.yaml")) as f:
            rewritten = f.read()
        self.assertIn("      CodeUri: 'handlers-other.zip'   # its own folder\n", rewritten)
        self.assertIn("    CodeUri: handlers-src.zip\n", rewritten)
        # a CodeUri the line rewriting cannot see (its value on the next line): no dist/template.yaml, said so
        with open(path, "w") as f:
            f.write(text.replace("      CodeUri: './other'   # its own folder\n", "")
                    .replace("    CodeUri: src/\n", "    CodeUri:\n      src/\n"))
        p = package(project, "--arch", HOST_ARCH, "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("dist/template.yaml not written (no 'CodeUri: PATH' line names", p.stdout)
        self.assertFalse(os.path.exists(os.path.join(project, "dist", "template.yaml")))

    # --- they run where nothing else is ---

    def run_in_rootfs(self, arch):
        rootfs = Rootfs(arch)
        rootfs.make()
        rootfs.reset((self.zip(f"moonrun-layer-{arch}.zip"), "opt"), (self.zip(f"deps-layer-{arch}.zip"), "opt"),
                     (self.zip("handlers-src.zip"), "var/task"))
        api = RuntimeAPI()
        api.start()
        self.addCleanup(api.stop)
        process = rootfs.start("/opt/bootstrap", lambda_env(api, "uses.handler"))
        try:
            request_id = api.push({"name": "lambda", "a": 40, "b": 2})
            result = api.wait_result(request_id, timeout=120 * SCALE, alive=lambda: process.poll() is None)
        finally:
            log = stop(process)
        self.assertEqual(result.kind, "response", log)
        self.assertEqual(result.json(), {"greeting": "hello lambda from mrtest-pure 2.0",
                                         "welcome": "hello lambda from mrtest-pure 2.0, via mrtest-dependent",
                                         "sum": 42, "arch": MACHINE[arch]})

    def test_runs_in_a_minimal_rootfs(self):
        self.run_in_rootfs(HOST_ARCH)

    def test_arm64_runs_under_qemu(self):
        self.run_in_rootfs(OTHER_ARCH)

    # --- incremental and reproducible ---

    def test_unchanged_project_repackages_at_once(self):
        before = {n: sha256(self.zip(n)) for n in os.listdir(self.dist)}
        p = package(self.project, "--arch", "all", "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.count("unchanged"), 5, p.stdout)
        # Under a second of processor time (its own and its children's); the wall clock is
        # bounded loosely, as this machine is shared (bench/package.sh reports the wall time).
        self.assertLess(p.cpu, 1.0 * SCALE, p.stdout)  # SCALE: 3 under AddressSanitizer
        self.assertLess(p.elapsed, 5.0 * SCALE, p.stdout)
        self.assertEqual({n: sha256(self.zip(n)) for n in os.listdir(self.dist)}, before)

    def test_a_changed_handler_rebuilds_its_zip_alone(self):
        path = os.path.join(self.project, "src", "extra.lua")
        with open(path, "w") as f:
            f.write("return {}\n")
        try:
            p = package(self.project, "--arch", "all", "--server", self.server)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout.count("unchanged"), 4, p.stdout)
            self.assertIn("extra.lua", names(self.zip("handlers-src.zip")))
            # and a zip altered in dist/ is made again
            with open(self.zip("deps-layer-arm64.zip"), "ab") as f:
                f.write(b"x")
        finally:
            os.remove(path)
        p = package(self.project, "--arch", "all", "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"deps-layer-arm64\.zip\s+\d+ bytes\s+3 rocks")
        self.assertNotIn("extra.lua", names(self.zip("handlers-src.zip")))
        self.assertTrue(zipfile.is_zipfile(self.zip("deps-layer-arm64.zip")))

    def test_two_packagings_give_the_same_bytes(self):
        # a copy of the project with nothing built: every zip made again, in another folder
        copy = os.path.join(self.tmp, "copy")
        shutil.copytree(self.project, copy, ignore=shutil.ignore_patterns("dist", ".moonrun"))
        self.addCleanup(shutil.rmtree, copy, True)
        p = package(copy, "--arch", "all", "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("unchanged", p.stdout)
        for name in sorted(os.listdir(self.dist)):
            self.assertEqual(sha256(os.path.join(copy, "dist", name)), sha256(self.zip(name)), name)

    def test_an_installed_moonrun_copies_its_own_layers(self):
        # the layout cmake --install gives with MOONRUN_LAYERS_DIR: bin/moonrun beside
        # share/moonrun/{lua,bootstrap,layers}; its layers stand apart from the project's (a byte
        # appended), so the copy is seen to be theirs
        prefix = os.path.join(self.tmp, "prefix")
        share = os.path.join(prefix, "share", "moonrun")
        os.makedirs(os.path.join(prefix, "bin"))
        shutil.copy(MOONRUN, os.path.join(prefix, "bin", "moonrun"))
        shutil.copytree(os.path.join(ROOT, "lua"), os.path.join(share, "lua"))
        os.makedirs(os.path.join(share, "bootstrap"))
        os.makedirs(os.path.join(share, "layers"))
        for tool in ("make_zip.py", "check_elf.py"):
            shutil.copy(os.path.join(ROOT, "bootstrap", tool), os.path.join(share, "bootstrap"))
        for arch in ARCHS:
            with open(os.path.join(share, "layers", f"moonrun-layer-{arch}.zip"), "wb") as f:
                with open(self.zip(f"moonrun-layer-{arch}.zip"), "rb") as built:
                    f.write(built.read() + b"\0")
        copy = os.path.join(self.tmp, "installed-copy")
        shutil.copytree(self.project, copy, ignore=shutil.ignore_patterns("dist", ".moonrun"))
        self.addCleanup(shutil.rmtree, copy, True)
        p = subprocess.run([os.path.join(prefix, "bin", "moonrun"), "package", "--arch", "all",
                            "--server", self.server], cwd=copy, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("building moonrun", p.stdout)
        for arch in ARCHS:
            installed = os.path.join(share, "layers", f"moonrun-layer-{arch}.zip")
            self.assertIn(f"from {installed}", p.stdout)
            self.assertEqual(sha256(os.path.join(copy, "dist", f"moonrun-layer-{arch}.zip")), sha256(installed))

    # --- errors ---

    def test_a_c_rock_that_does_not_compile(self):
        project = make_project(self.tmp, "broken", ["mrtest-broken"])
        p = package(project, "--arch", "arm64", "--server", self.server)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("a C rock (mrtest-broken) failed to compile for arm64; the compiler's last lines:", p.stderr)
        self.assertIn("mrtest_undeclared_value", p.stderr)
        log = os.path.join(project, ".moonrun", "package", "arm64", "luarocks.log")
        self.assertIn(f"(the whole log: {log})", p.stderr)
        self.assertTrue(os.path.isfile(log))
        self.assertFalse(os.path.exists(os.path.join(project, "dist", "deps-layer-arm64.zip")))
        self.assertNotIn("dist/ is ready", p.stdout)

    def test_a_shared_object_needing_a_newer_glibc_is_refused(self):
        project = make_project(self.tmp, "newglibc", [])
        source = os.path.join(self.tmp, "new.c")
        with open(source, "w") as f:
            # arc4random arrived in glibc 2.36 (Debian 12's); provided.al2023 has 2.34
            f.write("#include <stdlib.h>\nunsigned draw(void) { return arc4random(); }\n")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", os.path.join(project, "src", "new.so"), source], check=True)
        p = package(project, "--arch", "x86_64", "--server", self.server)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("the x86_64 zips cannot run on provided.al2023:", p.stderr)
        self.assertIn("handlers-src.zip/new.so needs GLIBC_2.36 (arc4random), newer than provided.al2023's "
                      "glibc 2.34", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(project, "dist", "handlers-src.zip")), "not left for sam")
        # and again: the zip is not taken as up to date
        p = package(project, "--arch", "x86_64", "--server", self.server)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("new.so needs GLIBC_2.36", p.stderr)

    def test_a_rock_needing_a_library_the_base_image_lacks(self):
        project = make_project(self.tmp, "withyaml", ["mrtest-yaml"])
        p = package(project, "--arch", HOST_ARCH, "--server", self.server)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(f"deps-layer-{HOST_ARCH}.zip/lua/mrtest_yaml.so needs libyaml-0.so.2, which is neither in "
                      "the zips nor in provided.al2023's base image (glibc only)", p.stderr)

    def test_a_rock_no_server_has(self):
        project = make_project(self.tmp, "unknown", ["mrtest-nonexistent"])
        # packaged once without it: the layer made then is not left once the rockspec changes
        rockspec = [os.path.join(project, f) for f in os.listdir(project) if f.endswith(".rockspec")][0]
        with open(rockspec) as f:
            text = f.read()
        with open(rockspec, "w") as f:
            f.write(text.replace('  "mrtest-nonexistent",\n', ""))
        p = package(project, "--arch", HOST_ARCH, "--server", self.server)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertTrue(os.path.exists(os.path.join(project, "dist", f"deps-layer-{HOST_ARCH}.zip")))
        with open(rockspec, "w") as f:
            f.write(text)
        p = package(project, "--arch", HOST_ARCH, "--server", self.server)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertFalse(os.path.exists(os.path.join(project, "dist", f"deps-layer-{HOST_ARCH}.zip")))
        self.assertIn(f"moonrun package: luarocks could not install the dependencies for {HOST_ARCH}: Could not "
                      "satisfy dependency mrtest-nonexistent: No results matching query were found", p.stderr)
        self.assertIn(os.path.join(project, ".moonrun", "package", HOST_ARCH, "luarocks.log"), p.stderr)
        self.assertNotIn("stack traceback", p.stderr)
        self.assertNotIn("dist/ is ready", p.stdout)

    def test_the_server_from_moonrun_rocks_server(self):
        # the variable moonrun deps reads, when no --server is given
        project = make_project(self.tmp, "fromenv", ["mrtest-dependent"])
        env = package_env()
        env["MOONRUN_ROCKS_SERVER"] = self.server
        p = package(project, "--arch", HOST_ARCH, env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, rf"deps-layer-{HOST_ARCH}\.zip\s+\d+ bytes\s+2 rocks")
        with open(os.path.join(project, ".moonrun", "package", "state.json")) as f:
            self.assertNotIn(self.server, f.read(), "servers are kept as a digest")

    def test_missing_cross_compiler_names_the_debian_package(self):
        # a PATH of everything this machine has but the aarch64 cross compiler
        bin_dir = os.path.join(self.tmp, "bin-without-cross")
        os.makedirs(bin_dir, exist_ok=True)
        for folder in os.environ["PATH"].split(os.pathsep):
            if not os.path.isdir(folder):
                continue
            for name in os.listdir(folder):
                target = os.path.join(bin_dir, name)
                if not name.startswith("aarch64-linux-gnu-") and not os.path.lexists(target):
                    os.symlink(os.path.join(folder, name), target)
        env = package_env()
        env["PATH"] = bin_dir
        project = make_project(self.tmp, "nocross", ["mrtest-pure"])
        p = package(project, "--arch", "arm64", "--server", self.server, env=env)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("aarch64-linux-gnu-gcc not found, which compiles C rocks for arm64: "
                      "apt-get install gcc-aarch64-linux-gnu", p.stderr)

    def test_bad_arguments_are_named(self):
        cases = [
            (("--arch", "sparc"), "unknown architecture 'sparc' (x86_64, arm64 or all)"),
            (("--arch",), "--arch needs a value"),
            (("--colour",), "unknown option --colour"),
            (("extra",), "unknown argument extra"),
        ]
        for args, message in cases:
            p = package(self.project, *args)
            self.assertEqual(p.returncode, 2, (args, p.stderr))
            self.assertIn("moonrun package: " + message, p.stderr, args)
        with tempfile.TemporaryDirectory() as empty:
            p = package(empty)
            self.assertEqual(p.returncode, 1)
            self.assertIn("template.yaml not found in", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(empty, "dist")))
        bad = os.path.join(self.tmp, "badignore")
        shutil.copytree(self.project, bad, ignore=shutil.ignore_patterns("dist", ".moonrun"))
        with open(os.path.join(bad, ".moonrunignore"), "w") as f:
            f.write("ok.txt\n../secrets\n")
        p = package(bad, "--arch", "x86_64")
        self.assertEqual(p.returncode, 1)
        self.assertIn(".moonrunignore:2: '../secrets' leaves the folder (..)", p.stderr)


if __name__ == "__main__":
    unittest.main()
