import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Every test run gets its own Hugging Face cache: no stale prepared data, no touching the user's cache, and none
# left behind on the disk (each run's prepared datasets take tens of MB).
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="scifig-hf-")
atexit.register(shutil.rmtree, os.environ["HF_HOME"], ignore_errors=True)
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest  # noqa: E402

from scifig_tools import dummy_data  # noqa: E402
from scifig_tools.layout import benchmark_json  # noqa: E402
from scifig_tools.serve import RangeServer  # noqa: E402

from helpers import DUMMY  # noqa: E402


@pytest.fixture(scope="session")
def upstream():
    """The upstream records the dummy archives were built from: what the builder must turn into rows."""
    articles = dummy_data.load_articles()
    records, images = dummy_data.benchmark_records(articles)
    evaluation = {record["uid"] for split in ("validation", "test")
                  for name in (benchmark_json(split, "captioning"), benchmark_json(split, "mcq"))
                  for record in _flat(records[name])}
    return {"records": records, "images": images, "shards": dummy_data.pretraining_shards(articles),
            "articles": articles, "evaluation": evaluation}


def _flat(records):
    return [record for item in records for record in (item if isinstance(item, list) else [item])]


@pytest.fixture
def server():
    """dummy_data/ on a real HTTP server on 127.0.0.1 that honours Range requests and counts bytes sent."""
    running = RangeServer(DUMMY).start()
    yield running
    running.stop()


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "cache")
