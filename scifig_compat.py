# Copyright 2026 The scifig Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Every use scifig makes of a `datasets` name that is not public API, each with why, in one place.

Holds: the export's row-group and shard-size rules, the card's infos writer, datasets' cache file names, and the
streaming patch scifig opts out of. Checked against datasets 3.6.0, 4.0.0, 4.8.5 and 5.2 (tests/run.sh runs the
suite on each line); when a release moves one of these, this file is the one to change. Done with public API instead
of an internal: an archive's size and sha256 for dataset_infos.json (was datasets.utils.info_utils'
get_size_checksum_dict; now hashlib, in scifig_tools.infos).
May import: the standard library and `datasets`.
"""

import os
import sys

import datasets
from datasets.info import DatasetInfosDict
from datasets.utils.py_utils import convert_file_size_to_int

DATASETS_MAJOR = int(datasets.__version__.split(".")[0])


def rows_per_row_group(num_rows, num_bytes):
    """The export's Parquet row groups: datasets' own rule for how many rows of a given size make a row group (its
    100 MB limit), so the export's pages are what push_to_hub would write. datasets.arrow_writer's
    get_writer_batch_size_from_data_size, on datasets >= 4 (the lines the export runs on; 3.6 has no such function,
    so it is imported only when called)."""
    from datasets.arrow_writer import get_writer_batch_size_from_data_size

    return get_writer_batch_size_from_data_size(num_rows, num_bytes)


# "500MB" -> bytes as push_to_hub reads its max_shard_size (decimal units), so an export's shard count is the Hub's.
# (datasets.utils.py_utils, every line above.)
bytes_in_size = convert_file_size_to_int

# The card's `dataset_info` YAML written as datasets writes it (DatasetInfosDict.to_dataset_card_data); the class is
# not exported at the top of the package. (datasets.info, every line above.)
infos_dict = DatasetInfosDict

# Where a load keeps dataset_infos.json and downloads: datasets.config constants (every line above).
INFOS_FILENAME = datasets.config.DATASETDICT_INFOS_FILENAME


def downloads_dir(cache_dir=None):
    """Where datasets keeps downloaded archives for a load with this cache_dir (the download manager's default)."""
    if cache_dir:
        return os.path.join(cache_dir, datasets.config.DOWNLOADED_DATASETS_DIR)
    return str(datasets.config.DOWNLOADED_DATASETS_PATH)


def skip_streaming_patches(builder_module):
    """Marks the builder's module and its sibling modules as already patched for streaming.

    When streaming, datasets swaps the builder module's `open`, `os.path.*`, `glob` and friends for URL-aware
    wrappers (datasets.streaming.extend_module_for_streaming) unless the module has a true `_patched_for_streaming`;
    datasets 3.6 also patches each module the builder file imports relatively, which it imports by a name made from
    the builder's module name. scifig reads its archives itself, by byte range, and needs none of it; importing what
    those patches name (scipy.io, when installed) costs each process 0.1 s before its first row. On 3.6, a builder
    imported as a top-level module (`import scifig` from a clone, or the wheel's package) makes datasets import its
    siblings as top-level modules too, which their relative imports forbid: they are registered under those names.
    """
    builder_module._patched_for_streaming = True
    package = builder_module.__package__
    for name, module in list(sys.modules.items()):
        if name.startswith(f"{package}.scifig_") and name.count(".") == package.count(".") + 1:
            module._patched_for_streaming = True
            if DATASETS_MAJOR < 4 and "." not in builder_module.__name__:
                sys.modules.setdefault(name.rsplit(".", 1)[1], module)
