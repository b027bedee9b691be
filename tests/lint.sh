#!/usr/bin/env bash
# The repository's style checks (the `lint` ctest test): luacheck over the Lua, with the settings
# of .luacheckrc, and clang-format over the C, with those of .clang-format. A finding is printed
# as FILE:LINE: what is wrong, and the exit status is 1.
#
#   tests/lint.sh             both checks
#   tests/lint.sh lua         luacheck alone
#   tests/lint.sh format      clang-format alone (--dry-run: nothing is changed)
#   tests/lint.sh format-fix  rewrites the C files as clang-format lays them out (clang-format -i)
#
# Both tools are Debian's (lua-check, clang-format), which `bootstrap/setup.sh test` installs.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
case "$mode" in all | lua | format | format-fix) ;; *)
    echo "usage: tests/lint.sh [lua|format|format-fix]" >&2
    exit 2
    ;;
esac

need() {
    command -v "$1" >/dev/null ||
        { echo "lint: $1 is not installed (apt-get install $2, or bootstrap/setup.sh test)" >&2; exit 1; }
}

# The C the project writes: the core, the C tests, the fuzz targets and the bench tools (the C of
# the fixtures under tests/modules and tests/rocks stands in for users' modules, so it is not
# held to the project's layout).
c_files() {
    find src tests/c fuzz bench -path bench/build -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print |
        LC_ALL=C sort
}

status=0

check_lua() {
    need luacheck lua-check
    # The settings are .luacheckrc's; the folders are named rather than `.` because luacheck
    # walks and matches every file under what it is given, and a build tree of tens of
    # thousands of files took it past the test's five minutes.
    if luacheck --no-color --formatter plain --codes lua handlers bench tests/lua; then
        echo "lint: luacheck found nothing"
    else
        echo "lint: luacheck's findings above (settings: .luacheckrc)" >&2
        status=1
    fi
}

check_format() {
    need clang-format clang-format
    local files report
    mapfile -t files < <(c_files)
    report=$(mktemp)
    if clang-format --style=file --dry-run --Werror "${files[@]}" 2>"$report"; then
        echo "lint: clang-format: ${#files[@]} C files laid out as .clang-format says"
    else
        # One line per file (its first place and how many there are): the whole diff is what
        # `tests/lint.sh format-fix` would apply.
        if ! awk -F: '/: error: code should be clang-formatted/ {
                if (!($1 in places)) { order[++n] = $1; first[$1] = $2 }
                places[$1]++ }
              END { for (i = 1; i <= n; i++)
                      printf "%s:%s: not laid out as clang-format would (%d place%s)\n", order[i],
                             first[order[i]], places[order[i]], places[order[i]] == 1 ? "" : "s"
                    exit n == 0 }' "$report" >&2; then
            cat "$report" >&2 # clang-format failed for another reason: its own words
        fi
        echo "lint: clang-format: the files above differ from .clang-format's layout;" \
            "tests/lint.sh format-fix rewrites them" >&2
        status=1
    fi
    rm -f "$report"
}

case "$mode" in
all) check_lua; check_format ;;
lua) check_lua ;;
format) check_format ;;
format-fix)
    need clang-format clang-format
    mapfile -t files < <(c_files)
    clang-format --style=file -i "${files[@]}"
    echo "lint: clang-format laid out ${#files[@]} C files" ;;
esac
exit $status
