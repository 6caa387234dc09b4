"""`python -m scifig_tools cache`: what scifig keeps in the cache; bound or clear it."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "cache", "list, bound or clear what scifig keeps in the cache")
    parser.add_argument("--cache-dir", help="the datasets cache a load uses (HF_DATASETS_CACHE unless given)")
    held = parser.add_mutually_exclusive_group()
    held.add_argument("--clear", action="store_true",
                      help="remove every entry no reader holds, and every prepared dataset")
    held.add_argument("--limit", help="evict least-recently-used entries down to this size, e.g. 5GB")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Clears or bounds the cache if asked, then lists what it holds.

    Args:
        args: the parsed command line (cache_dir, clear, limit).

    Returns:
        The exit status, 0.

    Raises:
        ValueError: a --limit that is not a size.
    """
    from scifig_tools import cache
    from scifig_tools.report import size

    if args.clear:
        removed, held, datasets_ = cache.clear(args.cache_dir)
        print(f"removed {len(removed)} entries" + (f"; {len(held)} in use, kept" if held else ""))
        print(f"removed {len(datasets_)} prepared datasets" + "".join(f"\n  {found.config_id} ({found.folder}, "
                                                                    f"{size(found.bytes)})" for found in datasets_))
    elif args.limit:
        print(f"evicted {len(cache.limit(args.limit, args.cache_dir))} entries")
    print(cache.listing(args.cache_dir))
    return 0
