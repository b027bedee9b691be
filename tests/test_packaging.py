"""The deployment packages (bootstrap/package.sh): what the zips hold, that they are reproducible,
that they need nothing newer than provided.al2023's glibc 2.34 and nothing of the build machine,
and that they run: in a minimal Debian root file system without libcurl, OpenSSL or Lua
(debootstrap --variant=minbase), the x86_64 zip natively and the arm64 zip under qemu-user,
against the test Runtime API server and moto's SQS on loopback. Also the SAM template (cfn-lint).

Needs root (chroot, mount), debootstrap, binutils, gcc-aarch64-linux-gnu, qemu-user-static and
the arm64 libraries that bootstrap/setup.sh installs. MOONRUN_PACKAGE_WORK (default
build/package) keeps the builds and the root file systems between runs.
"""

import hashlib
import http.server
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aws_support import TEST_KEY_ID, TEST_SECRET, MotoServer  # noqa: E402
from runtime_api import RuntimeAPI  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bootstrap"))
from check_elf import GLIBC_LIBS, MAX_GLIBC, dynamic_entries, glibc_versions, is_elf  # noqa: E402
import check_elf  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.abspath(os.environ.get("MOONRUN_PACKAGE_WORK", os.path.join(ROOT, "build", "package")))
HOST_ARCH = "arm64" if os.uname().machine == "aarch64" else "x86_64"
OTHER_ARCH = "x86_64" if HOST_ARCH == "arm64" else "arm64"
ARCHS = (HOST_ARCH, OTHER_ARCH)
BUNDLED_LIBS = {"libcurl.so.4", "libssl.so.3", "libcrypto.so.3"}
DIST = os.path.join(WORK, "dist-test")
QEMU = "/usr/bin/qemu-aarch64-static"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"


def package(*args, check=True):
    p = subprocess.run([os.path.join(ROOT, "bootstrap", "package.sh"), *args],
                       capture_output=True, text=True, timeout=1200)
    if check and p.returncode != 0:
        raise AssertionError(f"package.sh {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def unzip(zip_path, dest):
    subprocess.run(["unzip", "-q", "-o", zip_path, "-d", dest], check=True)


def zip_path(kind, arch=None):
    return os.path.join(DIST, f"moonrun-{kind}-{arch}.zip" if arch else f"moonrun-{kind}.zip")


class Rootfs:
    """A minimal Debian root file system per architecture, made once and kept under WORK."""

    def __init__(self, arch):
        self.arch = arch
        self.path = os.path.join(WORK, f"rootfs-{arch}")

    def make(self):
        p = subprocess.run([os.path.join(ROOT, "bootstrap", "rootfs.sh"), self.arch, self.path],
                           capture_output=True, text=True, timeout=1800)
        if p.returncode != 0:
            raise AssertionError(f"rootfs.sh {self.arch} failed:\n{p.stdout}{p.stderr}")

    def reset(self, *zips_and_places):
        """Empties /var/task and /opt, then unpacks each (zip, place inside the root)."""
        for place in ("var/task", "opt"):
            shutil.rmtree(os.path.join(self.path, place), ignore_errors=True)
            os.makedirs(os.path.join(self.path, place))
        for archive, place in zips_and_places:
            unzip(archive, os.path.join(self.path, place))

    def start(self, executable, env):
        """Runs executable (a path inside the root) chrooted, with /proc mounted in a private
        mount namespace, so the mount goes away with the process. The pid is the runtime's."""
        command = [executable] if self.arch == HOST_ARCH else [QEMU, executable]  # QEMU: inside the root
        script = 'mount -t proc proc "$1/proc" && root=$1 && shift && exec "$0" "$root" "$@"'
        return subprocess.Popen([UNSHARE, "--mount", "--propagation", "private", "sh", "-c", script,
                                 CHROOT, self.path, *command], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)


def lambda_env(api, handler, **extra):
    env = {"PATH": "/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": handler,
           "LAMBDA_TASK_ROOT": "/var/task", "AWS_REGION": "us-east-1",
           "AWS_LAMBDA_FUNCTION_NAME": "moonrun-packaged", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_ACCESS_KEY_ID": TEST_KEY_ID,
           "AWS_SECRET_ACCESS_KEY": TEST_SECRET}
    env.update(extra)
    return env


def stop(process):
    process.kill()
    out, err = process.communicate(timeout=30)
    return out.decode(errors="replace") + err.decode(errors="replace")


class PackagingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the packaging tests need root (debootstrap, chroot, mount)")
        shutil.rmtree(DIST, ignore_errors=True)
        cls.output = package("--handlers", os.path.join(ROOT, "handlers"), "--arch", "all",
                             "--out", DIST, "--work", WORK).stdout
        cls.unpacked = tempfile.mkdtemp(prefix="moonrun-pkg-")
        for arch in ARCHS:
            for kind in ("function", "layer"):
                unzip(zip_path(kind, arch), os.path.join(cls.unpacked, f"{kind}-{arch}"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.unpacked, ignore_errors=True)

    def elf_files(self):
        for arch in ARCHS:
            base = os.path.join(self.unpacked, f"function-{arch}")
            for folder, _, files in os.walk(base):
                for name in files:
                    path = os.path.join(folder, name)
                    if is_elf(path):
                        yield arch, os.path.relpath(path, base), path

    # --- what the zips hold ---

    def test_function_zip_layout(self):
        for arch in ARCHS:
            with zipfile.ZipFile(zip_path("function", arch)) as z:
                infos = {i.filename: i for i in z.infolist()}
                names = [i.filename for i in z.infolist()]
            self.assertEqual(names, sorted(names), "entries are sorted")
            self.assertIn("bootstrap", names)
            self.assertEqual(stat.S_IMODE(infos["bootstrap"].external_attr >> 16), 0o755)
            self.assertTrue(stat.S_ISREG(infos["bootstrap"].external_attr >> 16))
            for lib in BUNDLED_LIBS:
                self.assertIn("lib/" + lib, names)
            for module in ("lua/moonrun/sqs.lua", "lua/moonrun/aws.lua", "lua/moonrun/events.lua"):
                self.assertIn(module, names)
            for handler in ("send_messages.lua", "consume.lua", "hello.lua", "events/hello.json"):
                self.assertIn(handler, names)
            for info in infos.values():
                self.assertEqual(info.date_time, (1980, 1, 1, 0, 0, 0), info.filename)
                self.assertFalse(info.filename.endswith("/"), "no folder entries")
                if info.filename != "bootstrap":
                    self.assertEqual(stat.S_IMODE(info.external_attr >> 16), 0o644, info.filename)
            # bootstrap is the moonrun executable itself: an ELF file, no script in front of it
            with open(os.path.join(self.unpacked, f"function-{arch}", "bootstrap"), "rb") as f:
                self.assertEqual(f.read(4), b"\x7fELF")
            self.assertFalse(any(n.startswith("lib/ld-") or "/libc.so" in n for n in names),
                             "glibc is never bundled")

    def test_layer_zip_holds_the_runtime_and_no_handlers(self):
        for arch in ARCHS:
            with zipfile.ZipFile(zip_path("layer", arch)) as layer:
                layer_names = set(layer.namelist())
            with zipfile.ZipFile(zip_path("function", arch)) as function:
                function_names = set(function.namelist())
            with zipfile.ZipFile(zip_path("handlers")) as handlers:
                handler_names = set(handlers.namelist())
            self.assertIn("bootstrap", layer_names)
            self.assertNotIn("send_messages.lua", layer_names)
            self.assertEqual(layer_names | handler_names, function_names)
            self.assertEqual(layer_names & handler_names, set())
        self.assertTrue(all(not n.startswith(("lib/", "lua/")) and n != "bootstrap" for n in handler_names))

    def test_shipped_modules_require_only_shipped_modules(self):
        # The layer leaves out moonrun dev and moonrun package; a shipped module that requires one
        # of theirs, even inside a function, fails on Lambda with "module not found" only when
        # that function runs. Modules given as literal strings are all of moonrun's requires.
        with zipfile.ZipFile(zip_path("layer", HOST_ARCH)) as layer:
            shipped = {n[len("lua/"):-len(".lua")].replace("/", ".") for n in layer.namelist()
                       if n.startswith("lua/moonrun") and n.endswith(".lua")}
        self.assertIn("moonrun.events", shipped)
        for local_only in ("moonrun.dev.poller", "moonrun.testing", "moonrun.template_function", "moonrun.deps",
                           "moonrun.package", "moonrun.project_init", "moonrun.scaffold.src.producer"):
            self.assertNotIn(local_only, shipped)
        # the C modules are the bootstrap's own (package.preload)
        script = os.path.join(self.unpacked, "preload.lua")
        with open(script, "w") as f:
            f.write("for name in pairs(package.preload) do print(name) end\n")
        bootstrap = os.path.join(self.unpacked, f"layer-{HOST_ARCH}", "bootstrap")
        p = subprocess.run([bootstrap, "run", script], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        preloaded = set(p.stdout.split())
        self.assertIn("moonrun.json", preloaded)
        require = re.compile(r"""require\s*\(?\s*["'](moonrun[\w.]*)["']""")
        missing = []
        for module in sorted(shipped):
            path = os.path.join(ROOT, "lua", module.replace(".", os.sep) + ".lua")
            if not os.path.exists(path):  # a folder's init.lua
                path = os.path.join(ROOT, "lua", module.replace(".", os.sep), "init.lua")
            with open(path, encoding="utf-8") as f:
                for wanted in require.findall(f.read()):
                    if wanted not in shipped and wanted not in preloaded:
                        missing.append(f"{module} requires {wanted}")
        self.assertEqual(missing, [])

    def test_sizes_are_reported_and_within_target(self):
        for arch in ARCHS:
            for kind in ("function", "layer"):
                path = zip_path(kind, arch)
                size = os.path.getsize(path)
                self.assertRegex(self.output, rf"moonrun-{kind}-{arch}\.zip\s+{size} bytes")
                self.assertLessEqual(size, 3 * 1024 * 1024, f"{path} is {size} bytes")

    def test_architectures(self):
        machines = {"x86_64": "Advanced Micro Devices X86-64", "arm64": "AArch64"}
        for arch, relative, path in self.elf_files():
            header = subprocess.run(["readelf", "-h", path], capture_output=True, text=True, check=True).stdout
            self.assertIn(machines[arch], header, f"{arch}: {relative}")

    def test_library_is_bytecode_and_tracebacks_keep_lines(self):
        for arch in ARCHS:
            with zipfile.ZipFile(zip_path("function", arch)) as z:
                library = [n for n in z.namelist() if n.startswith("lua/")]
                self.assertTrue(library)
                for name in library:
                    self.assertEqual(z.read(name)[:5], b"\x1bLuaT", f"{name} is Lua 5.4 bytecode")
                self.assertTrue(z.read("send_messages.lua").startswith(b"--"), "handlers stay source")
        base = os.path.join(self.unpacked, f"function-{HOST_ARCH}")
        p = subprocess.run([os.path.join(base, "bootstrap"), "run", "-e", 'require("moonrun.sqs").queue(nil)'],
                           capture_output=True, text=True, timeout=60, cwd=base,
                           env={"PATH": "/usr/bin:/bin", "LAMBDA_TASK_ROOT": base, "HOME": base})
        self.assertEqual(p.returncode, 1, p.stderr)
        # no AWS_REGION: the error is raised inside the library, several calls deep
        self.assertIn("NoRegionError: no AWS region", p.stderr)
        self.assertRegex(p.stderr, r"\n\s+lua/moonrun/aws\.lua:\d+: in function 'moonrun\.aws\.client'")
        self.assertRegex(p.stderr, r"\n\s+lua/moonrun/sqs\.lua:\d+: in function")

    # --- glibc and libraries ---

    def test_no_symbol_needs_glibc_above_2_34(self):
        checked = 0
        for arch, relative, path in self.elf_files():
            versions = glibc_versions(path)
            self.assertTrue(versions, f"{arch}: {relative} has no GLIBC version at all?")
            newer = sorted(v for v in versions if v > MAX_GLIBC)
            self.assertEqual(newer, [], f"{arch}: {relative} needs GLIBC_{newer and '.'.join(map(str, newer[-1]))}")
            checked += 1
        self.assertEqual(checked, 2 * (1 + len(BUNDLED_LIBS)))

    def test_the_glibc_check_catches_a_newer_symbol(self):
        # arc4random arrived in glibc 2.36 (Debian 12's): the check above must see it.
        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "new.c")
            with open(source, "w") as f:
                f.write("#include <stdlib.h>\nint main(void) { return (int)(arc4random() & 1); }\n")
            subprocess.run(["cc", "-o", os.path.join(tmp, "new"), source], check=True)
            self.assertIn((2, 36), glibc_versions(os.path.join(tmp, "new")))
            # and the check package.sh and moonrun package run names the file and the symbol
            self.assertEqual(check_elf.problems([tmp]),
                             [f"{os.path.basename(tmp)}/new needs GLIBC_2.36 (arc4random), newer than "
                              "provided.al2023's glibc 2.34"])

    def test_package_sh_checked_what_it_zipped(self):
        self.assertIn("package.sh: checked", self.output)

    def test_needed_libraries_are_glibc_or_bundled(self):
        for arch, relative, path in self.elf_files():
            needed = set(dynamic_entries(path, "NEEDED"))
            self.assertEqual(needed - GLIBC_LIBS - BUNDLED_LIBS, set(), f"{arch}: {relative}")

    def test_runpath_finds_lib_next_to_bootstrap(self):
        for arch in ARCHS:
            base = os.path.join(self.unpacked, f"function-{arch}")
            self.assertEqual(dynamic_entries(os.path.join(base, "bootstrap"), "RUNPATH"), ["$ORIGIN/lib"])
            self.assertEqual(dynamic_entries(os.path.join(base, "lib", "libcurl.so.4"), "RUNPATH"), ["$ORIGIN"])

    # --- nothing of the build machine ---

    def test_no_build_machine_paths_in_any_file(self):
        home = os.path.expanduser("~")
        leaks = [ROOT, WORK, "/work/", os.path.dirname(ROOT) + "/"]
        if home not in ("/", "/root"):
            leaks.append(home)
        for arch in ARCHS:
            base = os.path.join(self.unpacked, f"function-{arch}")
            for folder, _, files in os.walk(base):
                for name in files:
                    path = os.path.join(folder, name)
                    text = subprocess.run(["strings", "-a", path], capture_output=True, text=True,
                                          errors="replace", check=True).stdout
                    for leak in leaks:
                        self.assertNotIn(leak, text, f"{arch}: {os.path.relpath(path, base)} holds {leak}")

    def test_zips_are_reproducible(self):
        # Again from scratch (a fresh libcurl and moonrun build in a new work folder, an hour's
        # difference in the clock would not matter either: nothing dated goes in).
        with tempfile.TemporaryDirectory(prefix="moonrun-repro-") as tmp:
            out = os.path.join(tmp, "out")
            package("--handlers", os.path.join(ROOT, "handlers"), "--arch", HOST_ARCH,
                    "--out", out, "--work", os.path.join(tmp, "work"))
            for name in (f"moonrun-function-{HOST_ARCH}.zip", f"moonrun-layer-{HOST_ARCH}.zip",
                         "moonrun-handlers.zip"):
                self.assertEqual(sha256(os.path.join(out, name)), sha256(os.path.join(DIST, name)), name)
        # and the other architecture's again from the kept builds
        with tempfile.TemporaryDirectory(prefix="moonrun-repro-") as out:
            package("--handlers", os.path.join(ROOT, "handlers"), "--arch", OTHER_ARCH,
                    "--out", out, "--work", WORK)
            for kind in ("function", "layer"):
                name = f"moonrun-{kind}-{OTHER_ARCH}.zip"
                self.assertEqual(sha256(os.path.join(out, name)), sha256(os.path.join(DIST, name)), name)

    # --- bad input ---

    def test_bad_arguments_are_named(self):
        handlers = os.path.join(ROOT, "handlers")
        cases = [
            ((), 2, "--handlers DIR is required"),
            (("--handlers", handlers, "--arch", "sparc"), 2, "unknown architecture 'sparc'"),
            (("--handlers", handlers, "--color"), 2, "unknown option '--color'"),
            (("--handlers",), 2, "--handlers needs a value"),
            (("--handlers", "/nonexistent/handlers"), 1, "handler folder '/nonexistent/handlers' does not exist"),
        ]
        with tempfile.TemporaryDirectory() as empty:
            cases.append((("--handlers", empty), 1, "has no .lua file"))
            with tempfile.TemporaryDirectory() as clash:
                open(os.path.join(clash, "h.lua"), "w").close()
                open(os.path.join(clash, "bootstrap"), "w").close()
                cases.append((("--handlers", clash), 1, "has 'bootstrap', which would replace moonrun's own"))
                for args, status, message in cases:
                    p = package(*args, check=False)
                    self.assertEqual(p.returncode, status, (args, p.stderr))
                    self.assertIn(message, p.stderr, args)

    # --- the SAM template ---

    def test_template_passes_cfn_lint(self):
        template = os.path.join(ROOT, "bootstrap", "template.yaml")
        p = subprocess.run(["cfn-lint", template], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(template) as f:
            text = f.read()
        for needed in ("Runtime: provided.al2023", "ReportBatchItemFailures", "deadLetterTargetArn",
                       "send_messages.handler", "consume.handler", "HttpApi", "CodeUri: ../handlers", "AWS::Serverless::LayerVersion",
                       "x86_64", "arm64"):
            self.assertIn(needed, text)
        # and cfn-lint does find a mistake in it
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as broken:
            broken.write(text.replace("Runtime: provided.al2023", "Runtime: provided.al2099"))
            broken.flush()
            p = subprocess.run(["cfn-lint", broken.name], capture_output=True, text=True, timeout=300)
            self.assertNotEqual(p.returncode, 0, "cfn-lint accepted an unknown runtime")


FETCH_HANDLER = """
local http = require "moonrun.http"
return {handler = function(event)
  local response, err = http.request{url = event.url}
  if response then return {status = response.status, body = response.body} end
  return {kind = err.kind, message = err.message}
end}
"""


class TLSServer(http.server.ThreadingHTTPServer):
    """An HTTPS server on loopback answering every GET with a fixed body."""

    daemon_threads = True

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"hello over TLS"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002
            pass

    def __init__(self, cert, key):
        super().__init__(("127.0.0.1", 0), self.Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.url = "https://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address):
        pass  # the untrusting client hangs up mid-handshake, as it should

    def stop(self):
        self.shutdown()
        self.server_close()


class RunsElsewhereTest(unittest.TestCase):
    """The zips in a minimal root file system, against real peers on loopback."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the packaging tests need root (debootstrap, chroot, mount)")
        if not all(os.path.exists(zip_path(k, a)) for k in ("function", "layer") for a in ARCHS):
            package("--handlers", os.path.join(ROOT, "handlers"), "--arch", "all", "--out", DIST, "--work", WORK)
        cls.rootfs = {arch: Rootfs(arch) for arch in ARCHS}
        for rootfs in cls.rootfs.values():
            rootfs.make()
        cls.moto = MotoServer().start()
        cls.sqs = cls.moto.boto3()

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def setUp(self):
        self.moto.reset()
        self.queue_url = self.sqs.create_queue(QueueName="test-queue")["QueueUrl"]
        self.api = RuntimeAPI()
        self.api.start()

    def tearDown(self):
        self.api.stop()

    def test_rootfs_has_no_curl_openssl_lua_or_cjson(self):
        for arch, rootfs in self.rootfs.items():
            found = []
            for folder, _, files in os.walk(rootfs.path):
                if folder.startswith((os.path.join(rootfs.path, "var", "task"), os.path.join(rootfs.path, "opt"),
                                      os.path.join(rootfs.path, "proc"))):
                    continue
                found += [os.path.join(folder, n) for n in files
                          if re.match(r"lib(curl|ssl|crypto|lua|cjson)[.-]", n)]
            self.assertEqual(found, [], f"{arch} root file system")

    def run_send_messages(self, arch, executable):
        rootfs = self.rootfs[arch]
        env = lambda_env(self.api, "send_messages.handler",
                         AWS_ENDPOINT_URL_SQS=self.moto.url)
        process = rootfs.start(executable, env)
        try:
            request_id = self.api.push({})
            # generous: qemu-user emulates arm64, on a machine shared with other builds
            [result] = self.api.wait_results(1, timeout=120, alive=lambda: process.poll() is None)
            self.assertEqual(result.request_id, request_id)
            self.assertEqual(result.kind, "response", result)
            self.assertEqual(result.json(), {"statusCode": 200, "body": "Sent 10 messages to the test-queue."})
            maps = self.mapped_files(process.pid)
        finally:
            log = stop(process)
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                                  AttributeNames=["ApproximateNumberOfMessages"])
        self.assertEqual(attributes["Attributes"]["ApproximateNumberOfMessages"], "10", log)
        self.assertEqual(log.count("Send message id: "), 10, log)
        return maps

    @staticmethod
    def mapped_files(pid):
        with open(f"/proc/{pid}/maps") as f:
            return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6
                    and line.split(None, 5)[5].startswith("/")}

    def test_function_zip_runs_in_a_minimal_rootfs(self):
        rootfs = self.rootfs[HOST_ARCH]
        rootfs.reset((zip_path("function", HOST_ARCH), "var/task"))
        maps = self.run_send_messages(HOST_ARCH, "/var/task/bootstrap")
        # Every file the runtime maps is the root file system's glibc or the zip's own: the
        # bundled libcurl and OpenSSL were found through RUNPATH by dlopen.
        task = os.path.join(rootfs.path, "var", "task")
        for path in maps:
            self.assertTrue(path.startswith(rootfs.path + "/"), f"{path} is outside the root file system")
        libs = {os.path.basename(p) for p in maps if p.startswith(task + "/lib/")}
        self.assertEqual(libs, BUNDLED_LIBS)
        others = {os.path.basename(p) for p in maps if not p.startswith(task + "/")}
        self.assertLessEqual(others, GLIBC_LIBS, "only glibc comes from the root file system")

    def test_layer_runs_from_opt_with_a_handlers_only_function(self):
        rootfs = self.rootfs[HOST_ARCH]
        rootfs.reset((zip_path("layer", HOST_ARCH), "opt"), (zip_path("handlers"), "var/task"))
        maps = self.run_send_messages(HOST_ARCH, "/opt/bootstrap")
        libs = {os.path.basename(p) for p in maps if p.startswith(os.path.join(rootfs.path, "opt", "lib") + "/")}
        self.assertEqual(libs, BUNDLED_LIBS)

    def test_arm64_function_zip_runs_under_qemu(self):
        rootfs = self.rootfs[OTHER_ARCH]
        rootfs.reset((zip_path("function", OTHER_ARCH), "var/task"))
        maps = self.run_send_messages(OTHER_ARCH, "/var/task/bootstrap")
        # qemu-user maps the guest's files into its own process, so the same check holds
        for path in maps:
            self.assertTrue(path.startswith(rootfs.path + "/"), f"{path} is outside the root file system")
        task = os.path.join(rootfs.path, "var", "task")
        self.assertEqual({os.path.basename(p) for p in maps if p.startswith(task + "/lib/")}, BUNDLED_LIBS)

    def test_https_through_the_bundled_libcurl_and_openssl(self):
        # TLS is the bundled libssl's and libcrypto's: the root file system has no OpenSSL.
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                            "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
            server = TLSServer(cert, key)
            self.addCleanup(server.stop)
            for arch in ARCHS:
                rootfs = self.rootfs[arch]
                rootfs.reset((zip_path("function", arch), "var/task"))
                task = os.path.join(rootfs.path, "var", "task")
                shutil.copy(cert, os.path.join(task, "ca.pem"))
                with open(os.path.join(task, "fetch.lua"), "w") as f:
                    f.write(FETCH_HANDLER)
                answers = {}
                for trust in ("/var/task/ca.pem", None):
                    extra = {"SSL_CERT_FILE": trust} if trust else {}
                    # a Runtime API of its own: the killed runtime's pending GET /next must
                    # not take the next event
                    api = RuntimeAPI()
                    api.start()
                    self.addCleanup(api.stop)
                    process = rootfs.start("/var/task/bootstrap", lambda_env(api, "fetch.handler", **extra))
                    try:
                        request_id = api.push({"url": server.url + "/hello"})
                        result = api.wait_result(request_id, timeout=120, alive=lambda: process.poll() is None)
                    finally:
                        log = stop(process)
                    self.assertEqual(result.kind, "response", log)
                    answers[trust] = result.json()
                self.assertEqual(answers["/var/task/ca.pem"], {"status": 200, "body": "hello over TLS"}, arch)
                # Without SSL_CERT_FILE the bundled libcurl looks for Amazon Linux's CA bundle,
                # which a Debian root does not have: a TLS error, not a crash.
                self.assertEqual(answers[None]["kind"], "tls", (arch, answers[None]))

    def test_init_error_is_reported_from_the_package(self):
        rootfs = self.rootfs[HOST_ARCH]
        rootfs.reset((zip_path("function", HOST_ARCH), "var/task"))
        process = rootfs.start("/var/task/bootstrap", lambda_env(self.api, "missing.handler"))
        try:
            self.assertEqual(process.wait(timeout=60), 1)
        finally:
            log = stop(process)
        [error] = self.api.init_errors()
        self.assertEqual(error.json()["errorType"], "Runtime.ImportModuleError", log)
        self.assertIn("/var/task/missing.lua", error.json()["errorMessage"])


if __name__ == "__main__":
    unittest.main()
