#!/usr/bin/env bash
# Rewrite the tree to the house style: ruff's safe autofixes (import order, py311 annotations, unused imports,
# stale noqa), then the formatter. Run once on main after merging (it touches nearly every file), then `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUFF="${RUFF:-.venv/bin/ruff}"
"$RUFF" check --fix . || true      # what --fix cannot fix is listed here and fails `make lint` below
"$RUFF" format .
"$RUFF" check .                     # a fix can expose a finding (e.g. an import left unused); this must be clean
