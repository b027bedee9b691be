#!/usr/bin/env python3
"""Checks that the shared objects and executables of Lambda zips can load on provided.al2023:

    check_elf.py [--allow LIB]... DIR...

DIR are the unpacked (or staged) contents of the zips that one function gets for one
architecture: every ELF file under them may need symbols of glibc 2.34 at most (the base image's)
and libraries that are either glibc's own (the base image has nothing else) or a file of that
name in one of the DIRs (Lambda puts a layer's lib/ on LD_LIBRARY_PATH; moonrun's libraries find
each other through their RUNPATH). --allow adds a library name that is known to be there.
Each problem is printed as one line naming the file (under the DIR's own name, so name the DIRs
after the zips) and the symbol or library; exit status 1.

bootstrap/package.sh, `moonrun package` and tests/test_packaging.py all use this file, so the
rule lives in one place. Needs binutils (objdump, readelf), which read ELF files of any
architecture.
"""

import os
import re
import subprocess
import sys

MAX_GLIBC = (2, 34)  # provided.al2023 (Amazon Linux 2023)
# What provided.al2023's base image provides: glibc's libraries, nothing else.
GLIBC_LIBS = frozenset({
    "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1", "libresolv.so.2",
    "libutil.so.1", "libanl.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
})
_VERSIONED_SYMBOL = re.compile(r"\(?\bGLIBC_(\d+(?:\.\d+)+)\)?\s+(\S+)\s*$")


def is_elf(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _run(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        sys.exit(f"check_elf.py: {args[0]} not found (apt-get install binutils)")
    except subprocess.CalledProcessError as e:
        raise ValueError(f"{args[-1]}: {args[0]} cannot read it: {e.stderr.strip()}") from None


def glibc_symbols(path):
    """{(major, minor...): [symbol, ...]}: the GLIBC_x.y versions the file's dynamic symbols need."""
    found = {}
    for line in _run(["objdump", "-T", path]).splitlines():
        match = _VERSIONED_SYMBOL.search(line)
        if match and "*UND*" in line:
            version = tuple(int(n) for n in match.group(1).split("."))
            found.setdefault(version, []).append(match.group(2))
    return found


def glibc_versions(path):
    """The GLIBC_x.y versions an ELF file requires (objdump -T)."""
    out = _run(["objdump", "-T", path])
    return {tuple(int(n) for n in v.split(".")) for v in re.findall(r"\bGLIBC_(\d+(?:\.\d+)+)\b", out)}


def dynamic_entries(path, tag):
    """The values of one tag (NEEDED, RUNPATH, ...) of the file's dynamic section (readelf -d)."""
    out = _run(["readelf", "-d", path])
    return re.findall(r"\(" + tag + r"\).*\[(.*)\]", out)


def elf_files(folders):
    """(folder, path relative to it, path) of every ELF file under the folders, sorted."""
    for folder in folders:
        for parent, subfolders, files in os.walk(folder):
            subfolders.sort()
            for name in sorted(files):
                path = os.path.join(parent, name)
                if is_elf(path):
                    yield folder, os.path.relpath(path, folder), path


def problems(folders, allowed=()):
    """One sentence per problem found in the ELF files under the folders."""
    present = {name for folder in folders for _, _, files in os.walk(folder) for name in files}
    available = GLIBC_LIBS | present | set(allowed)
    found = []
    for folder, relative, path in elf_files(folders):
        relative = os.path.join(os.path.basename(os.path.normpath(folder)), relative)
        try:
            symbols = glibc_symbols(path)
            needed = dynamic_entries(path, "NEEDED")
        except ValueError as e:
            found.append(str(e))
            continue
        newer = sorted(v for v in symbols if v > MAX_GLIBC)
        if newer:
            version = newer[-1]
            names = ", ".join(sorted(set(symbols[version]))[:3])
            found.append("%s needs GLIBC_%s (%s), newer than provided.al2023's glibc %s" % (
                relative, ".".join(map(str, version)), names, ".".join(map(str, MAX_GLIBC))))
        for library in needed:
            if library not in available:
                found.append("%s needs %s, which is neither in the zips nor in provided.al2023's base "
                             "image (glibc only)" % (relative, library))
    return found


def main(argv):
    allowed, folders = [], []
    args = iter(argv[1:])
    for arg in args:
        if arg == "--allow":
            allowed.append(next(args, ""))
        elif arg.startswith("-"):
            sys.exit(f"check_elf.py: unknown option {arg}")
        else:
            folders.append(arg)
    if not folders:
        sys.exit("usage: check_elf.py [--allow LIB]... DIR...")
    for folder in folders:
        if not os.path.isdir(folder):
            sys.exit(f"check_elf.py: {folder} is not a folder")
    found = problems(folders, allowed)
    for problem in found:
        print(problem)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
