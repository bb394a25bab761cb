#!/usr/bin/env bash
# Cheap source checks that CI runs before the tests (STYLE.md section 10): no `try!`, no FIXME,
# no `print(` outside the CLI, no line over 160 characters (swift-format's target is 120; this
# is the hard stop), and no path of a build machine in tracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files 'Sources/*.swift' 'Tests/*.swift')
if grep -n 'try!' $files; then echo "tidy: 'try!' is banned (use try and handle the error)"; fail=1; fi
if grep -n 'FIXME' $files; then echo "tidy: FIXME is banned on main (open an issue, use TODO(#N))"; fail=1; fi
if git ls-files 'Sources/*.swift' | grep -v '^Sources/apus/' | xargs grep -nE '^[^/]*\bprint\(' ; then
    echo "tidy: print( outside the CLI (use a logger or return the text)"; fail=1
fi
if awk 'length > 160 { print FILENAME ":" FNR ": " length " characters"; bad = 1 } END { exit bad }' $files; then :; else
    echo "tidy: lines over 160 characters"; fail=1
fi
if git ls-files | grep -v '^scripts/tidy.sh$' | xargs grep -lE '/(work|tmp/bash_jobs)/' 2>/dev/null; then
    echo "tidy: a tracked file names a path of this machine"; fail=1
fi
exit $fail
