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
"""What goes wrong with the data, and what a load does about it.

Holds: the error types (ScifigDataError for the caller, RecordError inside a row function), the counter stages
share, and the two error policies a load chooses between with `on_error` (raise, or log, count and skip).
May import: the standard library and `datasets.logging`; every other module of scifig imports this one.
"""

import datasets

logger = datasets.logging.get_logger(__name__)


class ScifigDataError(ValueError):
    """Upstream data scifig cannot turn into rows.

    The message names the archive, the member, the record (its position and id) and what is wrong with it, e.g.
    `benchmark.zip:benchmark/dev/image_caption_matching_data.json: record 3 of setting fig2cap (uid 'ncomms1'):
    answer 'Q' is not one of A-D`. A ValueError, so code that catches bad values catches it.
    """


class ScifigNetworkError(ScifigDataError):
    """An archive that cannot be reached: the message says it is the network, names the URL, and the remedy (a
    local copy with data_dir=, or a mirror with base_url=)."""

    def __init__(self, url, error):
        reason = getattr(error, "reason", None) or error
        super().__init__(f"{url}: cannot be reached ({type(reason).__name__}: {_first_line(reason)}): is there a "
                         "network? Pass data_dir= (--data-dir) a folder holding the archives, or base_url= "
                         "(--base-url) a mirror serving them")


def _first_line(error):
    return (str(error).strip().splitlines() or [""])[0][:200]


class RecordError(Exception):
    """A problem with one record, raised by a row function; the builder adds where the record is (its Origin) and
    hands the resulting ScifigDataError to the load's error policy."""


class Count:
    """A number stages add to while rows flow and the builder reads once they have: repeats kept under suffixed
    ids, records skipped."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0

    def add(self, amount=1):
        self.value += amount
        return self.value


class RaiseOnError(Count):
    """on_error="raise": the first bad record stops the load (nothing is ever skipped, so the count stays 0)."""

    def __call__(self, error):
        raise error


class SkipAndCount(Count):
    """on_error="skip": each bad record is logged and counted, and the load goes on."""

    def __call__(self, error):
        self.add()
        logger.warning("skipped: %s", error)


ERROR_POLICIES = {"raise": RaiseOnError, "skip": SkipAndCount}
