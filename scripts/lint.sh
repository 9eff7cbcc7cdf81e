#!/usr/bin/env bash
# Set up (with the test extras), then lint (ruff), check formatting and type-check (mypy) the package.
set -euo pipefail
cd "$(dirname "$0")/.."
PARETOMOO_EXTRAS="[dev]"
source scripts/setup.sh
"$VENV/bin/ruff" check paretomoo tests benchmarks
"$VENV/bin/ruff" format --check paretomoo tests benchmarks
"$VENV/bin/mypy"
