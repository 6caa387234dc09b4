#!/usr/bin/env bash
# Installs every tested datasets line from scratch and runs the suite on each:
#   .venv             the current line (requirements.txt): lint, the whole suite, the fuzzer's quick run
#   .venv-datasets3   datasets 3.6.0, the last line that runs loading scripts: the whole suite
#   .venv-datasets48  datasets 4.8.5, the last 4.x: scifig.load streamed and prepared, errors, the export round trip
#   .venv-datasets40  datasets 4.0.0, the first script-free release: the front doors (builder deps only)
#   .venv-torch       torch 2.14.1 with torchvision 0.29.1 alone (a CUDA build, 5.5 GB), installed once and seen by
#                     the two venvs below that need torchvision through a .pth file, so the disk holds one copy
#   .venv-train       the training stack (transformers 5, TRL, torch from .venv-torch): the trainer tests
#   .venv-llamafactory LLaMA-Factory with its own pins: its data pipeline on an export (run from the trainer tests)
#   .venv-flamingo    the loaders that pin transformers < 5 (open_flamingo's mmc4 loader, MosaicML streaming), on
#                     datasets 4.8: tests/test_trainer_loaders.py
set -euo pipefail
cd "$(dirname "$0")/.."
# Nothing here is installed twice, so pip's wheel cache would only take disk.
export PIP_NO_CACHE_DIR=1
# Debian's packages the tests read: headless Chromium (the browse page test) and WordNet 3.0 (METEOR, in place of
# nltk's downloader: scifig_tools/metric_resources.py). Installed where apt can, as root; else those tests skip.
if { ! command -v chromium >/dev/null || [ ! -f /usr/share/wordnet/index.sense ]; } && command -v apt-get >/dev/null \
        && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium \
        wordnet-base wordnet-sense-index >/dev/null
fi
builder_requirements() { sed -n '1,/^# scifig_tools/p' requirements.txt | grep -v '^datasets'; }

python3 -m venv .venv
.venv/bin/pip install -q -r requirements.txt -r tests/requirements.txt
# PyTorch's CPU build, for the DataLoader sharding test (this machine kind keeps its wheel on disk).
.venv/bin/pip install -q "torch==2.13.0"
# lmms-eval for the harness parity tests, with the dependencies its evaluator imports (see the file for why trimmed).
.venv/bin/pip install -q --no-deps "lmms-eval==0.7.3"
.venv/bin/pip install -q -r tests/requirements-lmms-eval.txt
.venv/bin/pip install -q -r tests/requirements-metrics.txt -r tests/requirements-ray.txt
.venv/bin/ruff check .
echo "== datasets $(.venv/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv/bin/python -m pytest tests -q
echo "== fuzzer, quick run: the sweep and 300 random cases"
.venv/bin/python -m tests.fuzz --cases 300 --sweep --jobs 2

python3 -m venv .venv-datasets3
.venv-datasets3/bin/pip install -q -r <(grep -v '^datasets' requirements.txt) "datasets==3.6.0" -r tests/requirements.txt
echo "== datasets $(.venv-datasets3/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv-datasets3/bin/python -m pytest tests -q

python3 -m venv .venv-datasets48
.venv-datasets48/bin/pip install -q -r <(grep -v '^datasets' requirements.txt) "datasets==4.8.5" -r tests/requirements.txt
echo "== datasets $(.venv-datasets48/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv-datasets48/bin/python -m pytest -q tests/test_builder.py tests/test_training_configs.py tests/test_bad_input.py \
    tests/test_front_doors.py tests/test_prepare_interrupted.py tests/test_export.py

python3 -m venv .venv-datasets40
.venv-datasets40/bin/pip install -q -r <(builder_requirements) "datasets==4.0.0" -r tests/requirements.txt
echo "== datasets $(.venv-datasets40/bin/python -c 'import datasets; print(datasets.__version__)')"
.venv-datasets40/bin/python -m pytest -q tests/test_front_doors.py

# torch with torchvision (transformers' Qwen2-VL processor and open_flamingo's data.py want it): this pair lies on this
# machine kind's disk. A venv made by venv_on_torch sees .venv-torch's packages after its own (pip counts them as
# installed and installs a venv's own release beside them where its pins differ).
python3 -m venv .venv-torch
.venv-torch/bin/pip install -q "torch==2.14.1" "torchvision==0.29.1"
venv_on_torch() {
    python3 -m venv "$1"
    local own shared
    own=$("$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    shared=$(.venv-torch/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$shared" > "$own/venv-torch.pth"
}

venv_on_torch .venv-train
.venv-train/bin/pip install -q -r requirements.txt -r tests/requirements.txt -r tests/requirements-train.txt
python3 -m venv .venv-llamafactory
.venv-llamafactory/bin/pip install -q "torch==2.13.0"
.venv-llamafactory/bin/pip install -q -r tests/requirements-llamafactory.txt
echo "== trainers: TRL $(.venv-train/bin/python -c 'import trl; print(trl.__version__)'), LLaMA-Factory $(.venv-llamafactory/bin/python -c 'import llamafactory; print(llamafactory.__version__)')"
SCIFIG_LLAMAFACTORY_PYTHON="$PWD/.venv-llamafactory/bin/python" .venv-train/bin/python -m pytest -q tests/test_training.py

venv_on_torch .venv-flamingo
.venv-flamingo/bin/pip install -q --no-deps "open-flamingo==2.0.1"
.venv-flamingo/bin/pip install -q -r <(grep -v '^datasets\|^webdataset' requirements.txt) -r tests/requirements.txt \
    -r tests/requirements-flamingo.txt
echo "== loaders: open_flamingo $(.venv-flamingo/bin/pip show open-flamingo | sed -n 's/^Version: //p'), mosaicml-streaming $(.venv-flamingo/bin/pip show mosaicml-streaming | sed -n 's/^Version: //p')"
.venv-flamingo/bin/python -m pytest -q tests/test_trainer_loaders.py
