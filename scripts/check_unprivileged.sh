#!/usr/bin/env bash
# The security suites where pip users run them: an ordinary user (uid 65534 when started as
# root, as CI is; else the calling user) without bubblewrap, so the process level (seccomp +
# Landlock, one uid for program and judge) is what they test. plum-exec is installed from this
# checkout into a fresh virtual environment of an interpreter that user can run (the CI's own
# may live under a 0700 /root), and bubblewrap is kept off the PATH. Fails if any test fails OR
# SKIPS there: a suite that skips has proved nothing.
#   scripts/check_unprivileged.sh            (PLUM_UNPRIVILEGED_PYTHON: the interpreter, default /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
suites=(tests/exec/test_sandbox_forgery.py tests/exec/test_sandbox_hostile.py tests/exec/test_sandbox_secrets.py
        tests/exec/test_livecodebench.py)
python=${PLUM_UNPRIVILEGED_PYTHON:-/usr/bin/python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/plum-unprivileged-XXXXXX")
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# A world-readable copy of what the suites need; the environment is installed by this user.
mkdir -p "$work/repo/tests" "$work/bin" "$work/home" "$work/tmp" "$work/out"
cp -r pyproject.toml "$work/repo/"
cp -r tests/conftest.py tests/exec "$work/repo/tests/"
cp -r packages/plum-exec "$work/plum-exec"  # built there: no build/ left in the checkout
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q -c constraints.txt "$work/plum-exec" pytest pytest-timeout >/dev/null
chmod -R a+rX "$work/repo" "$work/venv"

# Every command of the usual PATH but bwrap: namespace_available() finds no bubblewrap.
for folder in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  [ -d "$folder" ] || continue
  for tool in "$folder"/*; do
    name=${tool##*/}
    [ "$name" = bwrap ] || [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name"
  done
done

if [ "$(id -u)" = 0 ]; then
  chown 65534:65534 "$work/home" "$work/tmp" "$work/out"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all)
else
  as_user=()
fi
(cd "$work/repo" && "${as_user[@]}" env -i PATH="$work/venv/bin:$work/bin" HOME="$work/home" TMPDIR="$work/tmp" \
   LANG=C.UTF-8 "$work/venv/bin/python" -m pytest -q -p no:cacheprovider --junitxml="$work/out/junit.xml" "${suites[@]}")

"$work/venv/bin/python" - "$work/out/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

suite = ET.parse(sys.argv[1]).getroot().find("testsuite")
skipped = [f"{case.get('classname')}::{case.get('name')}: {case.find('skipped').get('message')}"
           for case in suite.iter("testcase") if case.find("skipped") is not None]
if int(suite.get("tests", 0)) == 0 or skipped:
    sys.exit("unprivileged: these tests skipped as an ordinary user without bubblewrap:\n  " + "\n  ".join(skipped))
print(f"unprivileged: {suite.get('tests')} tests ran as an ordinary user without bubblewrap, none skipped")
PY
