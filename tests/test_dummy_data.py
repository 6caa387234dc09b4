"""The committed dummy archives are exactly what the generator builds from dummy_data/source/."""

import json
import pickle
import zipfile

from scifig_tools import dummy_data

from helpers import DUMMY


def _payloads(path):
    """Member names with their parsed content (JSON and pickles) or raw bytes (images, counts)."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if info.filename.endswith(".json"):
                data = json.loads(data)
            elif info.filename.endswith(".pkl"):
                data = pickle.loads(data)  # our own committed file, not upstream data
            elif info.filename.endswith(".png"):
                data = info.file_size > 0 and data[:8] == b"\x89PNG\r\n\x1a\n"
            out[info.filename] = (data, info.compress_type)
    return out


def test_committed_archives_match_the_generator(tmp_path):
    built = dummy_data.build(tmp_path)
    for path in built:
        assert _payloads(path) == _payloads(DUMMY / path.name), f"dummy_data/{path.name} is stale: run " \
            "`python -m scifig_tools dummy-data`"


def test_hosted_layout():
    with zipfile.ZipFile(DUMMY / "benchmark.zip") as archive:
        names = set(archive.namelist())
    for folder in ("train", "dev", "test"):
        assert f"benchmark/{folder}/image_caption_generation_data.json" in names
        assert f"benchmark/{folder}/image_caption_matching_data.json" in names
        assert any(n.startswith(f"benchmark/{folder}/images/") and n.endswith(".png") for n in names)
    assert "benchmark/train/image_caption_chat_data.json" in names
    with zipfile.ZipFile(DUMMY / "pretraindata.zip") as archive:
        shards = [n for n in archive.namelist() if n.endswith(".pkl")]
    assert shards and all(n.startswith("pretraindata/shards/") for n in shards)
