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
"""scifig past one machine: a Ray Data source whose read tasks are scifig's own shards.

Holds: `read_tasks_of` (one Ray read task per shard of a split: each reads its part of the archives itself, by
byte range over HTTP or from a file every node sees, so no node reads everything) and the Datasource that hands them
to `ray.data.read_datasource`. Rows have the config's features, images as the Hub export stores them ({bytes, path}).
Distribution, placement and retries are Ray's: nothing here schedules, queues or retries.
May import: the standard library, pyarrow, scifig_data; Ray itself only when a Ray dataset is asked for (`pip install
"scifig[ray]"`); the rows come from the builder's own generator, which the caller passes in.
"""

import functools

ROWS_PER_BLOCK = 64  # rows a read task hands Ray at a time: a block of figures stays a few MB


def read_tasks_of(generate_rows, config, features, source, split, selection, shards):
    """[(shard, read function)]: each function yields the shard's rows as Arrow tables of the config's features."""

    def read(shard):
        import pyarrow

        schema, batch = features.arrow_schema, []
        for row in generate_rows(config, source, split, selection, [shard]):
            batch.append(features.encode_example(row))
            if len(batch) == ROWS_PER_BLOCK:
                yield pyarrow.Table.from_pylist(batch, schema=schema)
                batch = []
        if batch:
            yield pyarrow.Table.from_pylist(batch, schema=schema)

    return [(shard, functools.partial(read, shard)) for shard in shards]


@functools.lru_cache(maxsize=1)
def datasource_class():
    """ScifigDatasource, a ray.data.Datasource (defined on first use: Ray is imported only then)."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class ScifigDatasource(Datasource):
        """A split of scifig, one read task per shard, in the shards' order."""

        def __init__(self, tasks, name):
            self._tasks, self._name = tasks, name

        def get_name(self):
            return self._name

        def estimate_inmemory_data_size(self):
            return None

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            return [ReadTask(read, BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None,
                                                 input_files=(str(shard.member or shard.folder),)))
                    for shard, read in self._tasks]

    return ScifigDatasource

