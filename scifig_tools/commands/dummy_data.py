"""`python -m scifig_tools dummy-data`: the bundled sample's archives, rebuilt from their readable source."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "dummy-data", "rebuild dummy_data/*.zip from dummy_data/source/")
    parser.add_argument("--out", default=None, help="the folder to write into (default: the checkout's dummy_data/)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes benchmark.zip, pretraindata.zip and rawdata.zip of the sample.

    Args:
        args: the parsed command line (out).

    Returns:
        The exit status, 0.
    """
    from scifig_tools import dummy_data, paths

    for path in dummy_data.build(args.out or paths.output("dummy_data", "dummy-data writes dummy_data/*.zip")):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0
