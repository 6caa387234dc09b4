#!/usr/bin/env bash
# Installs both datasets lines from scratch into .venv (current, from requirements.txt) and .venv-datasets3
# (datasets 3.6.0, the last line that runs loading scripts) and runs the whole suite on each.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt -r tests/requirements.txt
# PyTorch's CPU build, for the DataLoader sharding test (this machine kind keeps its wheel on disk).
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/ruff check .
echo "== datasets $(.venv/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv/bin/python -m pytest tests -q

python3 -m venv .venv-datasets3
.venv-datasets3/bin/pip install -q -r <(grep -v '^datasets' requirements.txt) "datasets==3.6.0" -r tests/requirements.txt
echo "== datasets $(.venv-datasets3/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv-datasets3/bin/python -m pytest tests -q
