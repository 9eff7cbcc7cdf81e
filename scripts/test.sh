#!/usr/bin/env bash
# Set up (with the test extras) and run the test suite; arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PARETOMOO_EXTRAS="[dev]"
source scripts/setup.sh
"$PY" -m pytest "$@"
