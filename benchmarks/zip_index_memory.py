"""Memory a zip's member index takes, per member: the standard library, fsspec's zip filesystem, and scifig's reader.

    python benchmarks/zip_index_memory.py [--members 200000] [--workdir /tmp/scifig-bench]

Writes (once) a zip of that many figure-named members in the benchmark layout, opens it each way in a fresh child
process, and prints the Python heap each index holds after opening and at most while opening (tracemalloc), per
member and scaled to MMSci's 742,273 figures. Why scifig reads zips itself: the note above ZipArchive in
scifig_archives.py.
"""

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MMSCI_FIGURES = 742_273

OPENERS = {
    "zipfile.ZipFile": "import zipfile; index = zipfile.ZipFile(PATH)",
    "fsspec ZipFileSystem": "import fsspec; index = fsspec.filesystem('zip', fo=PATH); index.find('')",
    "scifig ZipArchive": "from scifig.scifig_archives import ZipArchive; index = ZipArchive(PATH, lambda n: True)",
}

CHILD = """
import sys, tracemalloc
sys.path.insert(0, {root!r})
PATH = {path!r}
import scifig, fsspec, zipfile  # imported before measuring: only the index is counted
tracemalloc.start()
{opener}
print(*tracemalloc.get_traced_memory())
"""


def archive(path, members):
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")  # an interrupted run leaves no half-written zip under the real name
        with zipfile.ZipFile(partial, "w") as out:
            for number in range(members):
                out.writestr(f"benchmark/dev/images/ncomms{number // 6}_figure_{number % 6}.png", b"")
        partial.replace(path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--workdir", default="/tmp/scifig-bench")
    args = parser.parse_args(argv)
    path = archive(Path(args.workdir) / f"index-{args.members}.zip", args.members)
    results = {}
    for name, opener in OPENERS.items():
        code = CHILD.format(root=str(ROOT), path=str(path), opener=opener)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        held, peak = (int(value) / args.members for value in out.split()[-2:])
        results[name] = {"held": held, "peak": peak}
        print(f"{name:22s} {held:7.1f} bytes per member held ({held * MMSCI_FIGURES / 2**20:6.1f} MB for MMSci's "
              f"{MMSCI_FIGURES:,} figures), {peak:7.1f} at most while opening")
    print(json.dumps({"members": args.members, "bytes_per_member": results}))


if __name__ == "__main__":
    main()
