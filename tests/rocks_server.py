"""A local LuaRocks server made of the rocks in tests/rocks/, for tests that install dependencies.

No LuaRocks server can be reached from the test machines, so the tests make one: each folder
tests/rocks/NAME-VERSION/ becomes a tarball, its rockspec template gets that tarball's file://
URL, Debian's `luarocks pack` turns it into NAME-VERSION-1.src.rock (sources inside, so the
tarball is not needed afterwards) and `luarocks-admin make-manifest` indexes the folder. The
result is what `luarocks --only-server DIR` (or `--server DIR`) expects.

    from rocks_server import build_server, ROCKS
    server = build_server(tempdir)      # -> tempdir/rocks, holding manifest and *.src.rock

Needs Debian's `luarocks` (3.8); a machine without it gets RocksServerError saying so.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROCKS = os.path.join(HERE, "rocks")


class RocksServerError(Exception):
    pass


def rock_folders(rocks=ROCKS):
    """The NAME-VERSION folders of the test rocks, sorted."""
    return sorted(d for d in os.listdir(rocks)
                  if os.path.isdir(os.path.join(rocks, d)) and not d.startswith("."))


def _tarball(source, dest):
    """A tar.gz of the folder source under its own name, with fixed owners and times, so the
    same sources give the same archive."""
    name = os.path.basename(source)

    def normalise(info):
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(dest, "w:gz") as tar:
        for entry in sorted(os.listdir(source)):
            if entry.endswith(".rockspec.in"):
                continue
            tar.add(os.path.join(source, entry), arcname=f"{name}/{entry}", filter=normalise)


def _run(args, cwd):
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise RocksServerError(f"{args[0]} is not installed: apt-get install luarocks") from None
    if done.returncode != 0:
        raise RocksServerError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


def build_server(directory, rocks=ROCKS):
    """Packs every test rock into directory/rocks and makes its manifest; returns that path."""
    server = os.path.join(directory, "rocks")
    os.makedirs(server, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rocks-src-", dir=directory) as staging:
        for folder in rock_folders(rocks):
            source = os.path.join(rocks, folder)
            specs = [f for f in os.listdir(source) if f.endswith(".rockspec.in")]
            if len(specs) != 1:
                raise RocksServerError(f"{source}: expected one NAME-VERSION-1.rockspec.in, found {specs}")
            archive = os.path.join(staging, folder + ".tar.gz")
            _tarball(source, archive)
            with open(os.path.join(source, specs[0])) as f:
                text = f.read().replace("@SOURCE_URL@", "file://" + archive)
            rockspec = os.path.join(staging, specs[0][:-len(".in")])
            with open(rockspec, "w") as f:
                f.write(text)
            _run(["luarocks", "pack", rockspec], cwd=server)
    _run(["luarocks-admin", "make-manifest", "--lua-version", "5.4", server], cwd=server)
    return server


if __name__ == "__main__":
    import sys
    target = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rocks-server-")
    print(build_server(os.path.abspath(target)))
