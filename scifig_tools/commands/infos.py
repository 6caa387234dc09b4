"""`python -m scifig_tools infos`: dataset_infos.json from the builder (and, with real archives, their sizes)."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "infos", "write dataset_infos.json from the builder")
    parser.add_argument("--data-dir", help="real archives to measure split sizes and checksums from")
    parser.add_argument("--out", default=None, help="the file to write (default: the checkout's dataset_infos.json)")
    parser.add_argument("--num-proc", type=int, default=None, help="processes preparing each config")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes dataset_infos.json.

    Args:
        args: the parsed command line (data_dir, out, num_proc).

    Returns:
        The exit status, 0.
    """
    from scifig_tools import infos

    print(f"wrote {infos.write(infos.build(args.data_dir, num_proc=args.num_proc), args.out)}")
    return 0
