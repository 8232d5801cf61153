#!/usr/bin/env bash
# run_pytest.sh PYTHON SRCDIR BUILDDIR - the Python binding's tests: pytest
# over tests/python with the package from the build tree
# (PYTHONPATH=SRCDIR/python:BUILDDIR/python), a real shmqd from $SHMQD.
# Its report, BUILDDIR/meson-logs/pytest.xml (JUnit), lets scripts/test.sh
# count each case. Exits 77 (skip) when pytest is not installed.
set -uo pipefail
py=$1
src=$2
build=$3
if ! "$py" -c 'import pytest' 2>/dev/null; then
	echo "pytest is not installed for $py (Debian: python3-pytest): skipping"
	exit 77
fi
export PYTHONPATH="$src/python:$build/python" PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -p no:cacheprovider -q -rs --junitxml="$build/meson-logs/pytest.xml" \
	"$src/tests/python"
