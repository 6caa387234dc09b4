"""Run inside the loaders' environment (tests/run.sh builds .venv-flamingo, which has mosaicml-streaming): reads a
`--format mds` split folder with MosaicML's own StreamingDataset from local disk, in order, and prints its rows as
JSON (bytes as base64, numbers as Python numbers).

    python tests/mds_check.py SPLIT_FOLDER   # OUT/<config>/<split>, the folder holding index.json
"""

import base64
import json
import sys

import numpy
from streaming import StreamingDataset
from streaming.base.util import clean_stale_shared_memory


def plain(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, numpy.generic):
        return value.item()
    return value


def main(folder):
    clean_stale_shared_memory()  # a test run killed earlier may leave MDS's shared memory behind
    dataset = StreamingDataset(local=folder, shuffle=False, batch_size=1)
    rows = [{name: plain(value) for name, value in dataset[index].items()} for index in range(dataset.num_samples)]
    iterated = sum(1 for _ in dataset)
    print(json.dumps({"rows": rows, "iterated": iterated}))


if __name__ == "__main__":
    main(sys.argv[1])
