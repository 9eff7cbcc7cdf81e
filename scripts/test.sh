#!/usr/bin/env bash
# Set up (with the test extras) and run the test suite; arguments go to pytest.
# The PostgreSQL tests start their own throw-away server on loopback (tests/conftest.py):
# its packages are installed here when they are missing (Debian/Ubuntu: apt-get, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PARETOMOO_TEST_PG_URL:-}" ] && ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing the PostgreSQL server packages for the tests (apt-get install postgresql)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "the PostgreSQL tests need the server binaries (pg_ctl): install PostgreSQL, or set PARETOMOO_TEST_PG_URL" >&2
  fi
fi
PARETOMOO_EXTRAS="[dev]"
source scripts/setup.sh
"$PY" -m pytest "$@"
