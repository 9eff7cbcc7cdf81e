#!/usr/bin/env bash
# The demo: set up, run the e-commerce study, draw its front, pick a trade-off and export it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
PM="$VENV/bin/paretomoo"
"$PM" run studies/ecommerce.toml "$@"
"$PM" plot studies/ecommerce.toml
"$PM" pick studies/ecommerce.toml
"$PM" export studies/ecommerce.toml --pick --constraint "fraud_pr_auc>=0.20" --noise 3 --out exports/ecommerce
