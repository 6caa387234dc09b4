"""`python -m scifig_tools export OUT`: the Hub's Parquet folder, or a trainer's format."""

import argparse

from scifig_tools.cli import add_command, add_source


def register(commands):
    from scifig_tools.export import FORMATS

    parser = add_command(commands, "export", "write the script-free Hub export (Parquet + card) or a trainer's format")
    parser.add_argument("out_dir", help="the folder to write the export into (for the Hub, what `hf upload` sends); "
                                        "with --engine ray, also a URI pyarrow's filesystems take (s3://, gs://)")
    parser.add_argument("--format", default="hub", choices=list(FORMATS),
                        help="; ".join(f"{name}: {entry.description}" for name, entry in FORMATS.items()))
    parser.add_argument("--repo-id", help="ORG/NAME: the Hub id the exported card tells readers to load")
    parser.add_argument("--configs", nargs="+", help="the configs to write (default: every config the format takes)")
    add_source(parser)
    parser.add_argument("--as-released", action="store_true",
                        help="train as upstream released it, evaluation articles included (exclude_eval_articles="
                             "False): what the MMSci paper fine-tuned on")
    parser.add_argument("--on-error", default="raise", choices=["raise", "skip"],
                        help="a record that cannot become a row: stop with an error naming it (raise), or log it, "
                             "leave it out and count it (skip)")
    parser.add_argument("--max-shard-size", default="500MB", help="hub: the most a Parquet file holds")
    parser.add_argument("--num-proc", type=int, default=None, help="processes preparing and writing shards")
    parser.add_argument("--engine", default="local", choices=["local", "ray"],
                        help="local: this machine; ray: a Ray job (`pip install \"scifig[ray]\"`), every node "
                             "reading its shards of the archives and writing its files")
    parser.add_argument("--ray-address", default=None,
                        help="--engine ray: the cluster to join (RAY_ADDRESS, else a local Ray, when not given)")
    parser.add_argument("--shards", type=int, default=None,
                        help="vila: shards at least (default 8, which 1, 2, 4 and 8 GPUs divide: VILA reads only "
                             "n_shards // world_size shards per GPU)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Writes the export and says what each config and split wrote.

    Args:
        args: out_dir, format, repo_id, configs, data_dir / base_url, as_released, max_shard_size, num_proc,
            engine, ray_address, on_error.

    Returns:
        The exit status, 0 once every config is written.

    Raises:
        ValueError: an unknown config, or a config the format does not take.
    """
    from scifig_tools.export import FORMATS, export

    builder_options = {"exclude_eval_articles": False} if args.as_released else {}
    if args.on_error != "raise":
        builder_options["on_error"] = args.on_error
    report = export(args.out_dir, args.configs, args.data_dir, args.base_url, format=args.format,
                    max_shard_size=args.max_shard_size, num_proc=args.num_proc, repo_id=args.repo_id,
                    shards=args.shards, engine=args.engine, ray_address=args.ray_address, **builder_options)
    for key, done in report.items():
        print(f"{key}: {done['written']} rows written" + (f", {done['skipped']} already complete"
                                                          if done["skipped"] else "")
 + f" ({args.format})")
    next_step = FORMATS[args.format].next_step
    if next_step:
        print(next_step.format(out_dir=args.out_dir, repo_id=args.repo_id or "ORG/NAME"))
    return 0
