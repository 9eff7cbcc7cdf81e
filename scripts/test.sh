#!/usr/bin/env bash
# Set up (with the test extras) and run the test suite; arguments go to pytest.
# The PostgreSQL tests start their own throw-away server on loopback (tests/conftest.py), and
# the report tests open the HTML report in headless Chromium (tests/_browser.py): their
# packages are installed here when they are missing (Debian/Ubuntu: apt-get, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES=()
if [ -z "${PARETOMOO_TEST_PG_URL:-}" ] && ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  PACKAGES+=(postgresql)
fi
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  PACKAGES+=(chromium)
fi
if [ ${#PACKAGES[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing what the tests need: apt-get install ${PACKAGES[*]}" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
  else
    echo "the tests need ${PACKAGES[*]}: install them (or set PARETOMOO_TEST_PG_URL for PostgreSQL)" >&2
  fi
fi
PARETOMOO_EXTRAS="[dev]"
source scripts/setup.sh
# One test process per core (pytest-xdist), each test file whole in one of them (its module fixtures built once);
# arguments that choose the processes themselves (-n N, -p no:xdist) win.
PARALLEL=(-n auto --dist loadfile)
for arg in "$@"; do
  case "$arg" in -n | -n* | --numprocesses* | no:xdist | -pno:xdist) PARALLEL=() ;; esac
done
"$PY" -m pytest "${PARALLEL[@]}" "$@"
