#!/usr/bin/env python3
"""Writes a reproducible zip of a folder: the same files give the same bytes.

    make_zip.py OUT.zip DIR

Entries are the regular files under DIR (symbolic links followed), sorted by path, all dated
1980-01-01 00:00 (zip's earliest date), with permissions fixed to 0755 for files that are
executable and 0644 for the rest, so nothing of the build machine (clock, umask, owner) gets
in. Folders get no entries of their own: unzip and Lambda create them from the paths.
"""

import os
import stat
import sys
import zipfile

FIXED_DATE = (1980, 1, 1, 0, 0, 0)


def entries(root):
    found = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        subfolders.sort()
        for name in files:
            path = os.path.join(folder, name)
            found.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return sorted(found)


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: make_zip.py OUT.zip DIR")
    out, root = argv[1], argv[2]
    if not os.path.isdir(root):
        sys.exit("make_zip.py: %s is not a folder" % root)
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w") as archive:
        for name, path in entries(root):
            mode = os.stat(path).st_mode
            if not stat.S_ISREG(mode):
                sys.exit("make_zip.py: %s is not a regular file" % path)
            info = zipfile.ZipInfo(name, FIXED_DATE)
            info.create_system = 3  # Unix, so unzip and Lambda honour the permission bits
            perm = 0o755 if mode & stat.S_IXUSR else 0o644
            info.external_attr = (stat.S_IFREG | perm) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as f:
                archive.writestr(info, f.read(), compresslevel=9)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
