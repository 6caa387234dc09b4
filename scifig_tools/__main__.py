"""python -m scifig_tools <command>: preview, evaluate, audit, browse, harness, export, infos, card, stats,
dummy-data, serve."""

import argparse
import re
import sys
from pathlib import Path


class _Parser(argparse.ArgumentParser):
    """argparse's parser, saying what a missing argument is for, not only its name."""

    def error(self, message):
        missing = re.match(r"the following arguments are required: (.+)", message)
        if missing:
            helps = {name: action.help for action in self._actions if action.help
                     for name in (action.dest, action.metavar) if name}
            message += "".join(f"\n  {name}: {helps[name]}" for name in missing[1].split(", ") if name in helps)
        super().error(message)


def main(argv=None):
    parser = _Parser(prog="python -m scifig_tools", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the whole traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    preview = commands.add_parser("preview", help="print a config's features and first rows")
    preview.add_argument("config", help="the config to show, e.g. mcq")
    preview.add_argument("--split", default="validation")
    preview.add_argument("--limit", type=int, default=3)
    _add_source(preview)
    preview.add_argument("--subjects", nargs="+")
    preview.add_argument("--categories", nargs="+")

    dummy = commands.add_parser("dummy-data", help="rebuild dummy_data/*.zip from dummy_data/source/")
    dummy.add_argument("--out", default=None)

    cache = commands.add_parser("cache", help="list, bound or clear what scifig keeps in the cache")
    cache.add_argument("--cache-dir", help="the datasets cache a load uses (HF_DATASETS_CACHE unless given)")
    held = cache.add_mutually_exclusive_group()
    held.add_argument("--clear", action="store_true", help="remove every entry no reader holds")
    held.add_argument("--limit", help="evict least-recently-used entries down to this size, e.g. 5GB")

    serve = commands.add_parser("serve", help="serve a folder of archives with HTTP Range support")
    serve.add_argument("directory", help="the folder holding benchmark.zip, pretraindata.zip and rawdata.zip")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    infos = commands.add_parser("infos", help="write dataset_infos.json from the builder")
    infos.add_argument("--data-dir", help="real archives to measure split sizes and checksums from")
    infos.add_argument("--out", default=None)
    infos.add_argument("--num-proc", type=int, default=None)

    evals = commands.add_parser("eval-articles", help="write the shipped list of evaluation articles from upstream's "
                                                      "split files")
    evals.add_argument("folder", help="upstream's mmsci-data/rawdata, holding dev_split_ids.json and "
                                      "test_split_ids.json")
    evals.add_argument("--commit", required=True, help="the upstream commit the files are from")
    evals.add_argument("--out", default=None)

    stats = commands.add_parser("stats", help="chart figures and articles per category and subject")
    _add_source(stats)
    stats.add_argument("--out", default=None, help="PNG path (default assets/figures_per_subject.png)")

    commands.add_parser("card", help="write README.md (the dataset card) and docs/ from the builder")

    export = commands.add_parser("export", help="write the script-free Hub export (Parquet + card)")
    export.add_argument("out_dir", help="the folder to write the export into (what `hf upload` sends)")
    export.add_argument("--repo-id", help="ORG/NAME: the Hub id the exported card tells readers to load")
    export.add_argument("--configs", nargs="+")
    _add_source(export)
    export.add_argument("--format", default="hub", choices=["hub", "llamafactory", "vila", "webdataset"],
                        help="hub: Parquet and card for the Hub (the default); llamafactory: sharegpt JSON and images "
                             "(sft, chat); vila: mmc4 pickle shards; webdataset: mmc4 tar shards (pretraining)")
    export.add_argument("--as-released", action="store_true",
                        help="train as upstream released it, evaluation articles included (exclude_eval_articles="
                             "False): what the MMSci paper fine-tuned on")
    export.add_argument("--max-shard-size", default="500MB")
    export.add_argument("--num-proc", type=int, default=None, help="processes preparing and writing shards")

    evaluate = commands.add_parser("evaluate", help="score predictions (or a text-only baseline) on a split")
    evaluate.add_argument("--config", required=True)
    evaluate.add_argument("--split", default="validation")
    scored = evaluate.add_mutually_exclusive_group(required=True)
    scored.add_argument("--predictions", help='JSON lines: {"id": ..., "prediction": "<raw model text>"}')
    scored.add_argument("--baseline", choices=["random", "longest-option", "first-option"])
    _add_source(evaluate)
    evaluate.add_argument("--dataset", help="score against a folder written by `export`, or its Hub id, instead of "
                                            "the archives")
    evaluate.add_argument("--circular", action="store_true",
                          help="the predictions answer every rotation of the options (ids <id>-c0 ... -c3)")
    evaluate.add_argument("--blind-predictions", help="a run without the figures: adds the image gain")
    evaluate.add_argument("--out", help="folder for metrics.json, metrics.md, by_category.png, errors.html")

    audit = commands.add_parser("audit", help="report leaks and biases in the data itself")
    audit.add_argument("--configs", nargs="+", default=None)
    _add_source(audit)
    audit.add_argument("--out", help="folder for audit.json and audit.md")
    audit.add_argument("--as-released", action="store_true",
                       help="audit upstream's train as released (exclude_eval_articles=False), not as loaded")
    audit.add_argument("--strict", action="store_true",
                       help="exit 1 when an evaluation article or figure is in a train split")

    browse = commands.add_parser("browse", help="write an offline site of a split, or of a model's errors")
    browse.add_argument("config", help="the config to show, e.g. mcq")
    browse.add_argument("--split", default="validation")
    browse.add_argument("--out", required=True, help="the site's folder")
    browse.add_argument("--dataset", help="a folder written by `export`, or its Hub id, instead of the archives")
    browse.add_argument("--limit", type=int, default=None)
    browse.add_argument("--predictions")
    browse.add_argument("--only-errors", action="store_true")
    _add_source(browse)

    harness = commands.add_parser("harness", help="write task files for an evaluation harness")
    harness.add_argument("kind", choices=["lmms-eval", "vlmevalkit"], help="the harness: lmms-eval or vlmevalkit")
    harness.add_argument("out_dir", help="the folder to write into: lmms-eval's --include_path, or VLMEvalKit's "
                                         "$LMUData (is it set in this shell?)")
    harness.add_argument("--dataset", help="a folder written by `export`, or its Hub id (lmms-eval reads only this)")
    harness.add_argument("--split", default="validation")
    _add_source(harness)

    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except (ValueError, FileNotFoundError, NotADirectoryError) as error:  # ScifigDataError is a ValueError
        if args.debug:
            raise
        hint = ""
        if getattr(args, "data_dir", None) is None and getattr(args, "base_url", None) is None \
                and getattr(args, "dataset", None) is None and type(error).__name__ == "ScifigDataError":
            hint = " (read from MMSci's hosted archives; --data-dir dummy_data reads the bundled sample)"
        print(f"python -m scifig_tools {args.command}: {error}{hint}", file=sys.stderr)
        return 1


def _run(parser, args):
    if args.command == "preview":
        from scifig_tools.preview import preview as run

        filters = {key: value for key, value in (("subjects", args.subjects), ("categories", args.categories))
                   if value}
        run(args.config, args.split, args.limit, data_dir=args.data_dir, base_url=args.base_url, **filters)
    elif args.command == "dummy-data":
        from scifig_tools import dummy_data, paths

        for path in dummy_data.build(args.out or paths.output("dummy_data")):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
    elif args.command == "infos":
        from scifig_tools import infos as infos_tool

        path = infos_tool.write(infos_tool.build(args.data_dir, num_proc=args.num_proc), args.out)
        print(f"wrote {path}")
    elif args.command == "eval-articles":
        from scifig_tools import eval_articles

        listed = eval_articles.build(args.folder, args.commit)
        path = eval_articles.write(listed, args.out)
        print(f"wrote {path}: {len(listed['validation'])} validation and {len(listed['test'])} test articles")
    elif args.command == "stats":
        from scifig_tools import stats as stats_tool

        path, counts, totals = stats_tool.main(args.data_dir, args.base_url, args.out)
        print(f"{len(counts)} subjects, {totals['figures']} figures, {totals['articles']} articles -> {path}")
    elif args.command == "card":
        from scifig_tools import card

        print(f"wrote {card.write()}")
        for path in card.write_docs():
            print(f"wrote {path}")
    elif args.command == "export" and args.format != "hub":
        from scifig_tools import formats

        released = {"exclude_eval_articles": False} if args.as_released else {}
        for config, written in formats.export(args.out_dir, args.format, args.configs, args.data_dir, args.base_url,
                                              num_proc=args.num_proc, **released).items():
            print(f"{config}: {written['rows']} rows written to {Path(args.out_dir)} as {args.format}")
    elif args.command == "export":
        from scifig_tools.export import export as run_export

        report = run_export(args.out_dir, args.configs, args.data_dir, args.base_url, args.max_shard_size,
                            num_proc=args.num_proc, repo_id=args.repo_id,
                            **({"exclude_eval_articles": False} if args.as_released else {}))
        for key, done in report.items():
            print(f"{key}: {done['written']} rows written, {done['skipped']} already complete")
        print(f"wrote {args.out_dir}: upload with `hf upload {args.repo_id or 'ORG/NAME'} {args.out_dir} "
              "--repo-type dataset`")
    elif args.command == "evaluate":
        from scifig_tools.evaluate import evaluate as run_evaluate
        from scifig_tools.evaluate import markdown

        metrics = run_evaluate(args.config, args.split, args.predictions, args.baseline, args.data_dir, args.base_url,
                               args.out, dataset=args.dataset, circular=args.circular,
                               blind_predictions=args.blind_predictions)
        print(markdown(metrics, f"scifig {args.config} [{args.split}]"))
        if args.out:
            print(f"wrote {Path(args.out) / 'metrics.json'}, metrics.md, by_category.png, errors/index.html")
    elif args.command == "audit":
        from scifig_tools.audit import audit as run_audit

        report, markdown_text = run_audit(args.configs, args.data_dir, args.base_url, args.out,
                                          as_released=args.as_released)
        print(markdown_text)
        if args.strict and (report["leaks"] or report["figure_leaks"]):
            print(f"--strict: {len(report['leaks'])} evaluation articles and {report['figure_leaks']} evaluation "
                  "figures are in a train split", file=sys.stderr)
            return 1
    elif args.command == "browse":
        from scifig_tools.browse import browse as run_browse

        shown = run_browse(args.config, args.split, args.out, args.limit, args.data_dir, args.base_url,
                           args.predictions, args.only_errors, dataset=args.dataset)
        print(f"wrote {Path(args.out) / 'index.html'} ({shown} rows)")
    elif args.command == "harness":
        from scifig_tools import harness as harness_tool

        if args.kind == "lmms-eval":
            if not args.dataset:
                parser.error("harness lmms-eval needs --dataset (a folder written by `export`, or its Hub id)")
            paths = harness_tool.lmms_eval_tasks(args.out_dir, args.dataset, args.split)
            print(f"wrote {len(paths)} tasks and groups to {args.out_dir}: "
                  f"lmms-eval --model <model> --include_path {args.out_dir} --tasks scifig_mcq")
        else:
            for path, md5 in harness_tool.vlmevalkit_tsvs(args.out_dir, args.split, args.data_dir, args.base_url,
                                                          args.dataset).items():
                print(f"{path}  md5 {md5}")
    elif args.command == "cache":
        from scifig_tools import cache as cache_tool

        if args.clear:
            removed, held = cache_tool.clear(args.cache_dir)
            print(f"removed {len(removed)} entries" + (f"; {len(held)} in use, kept" if held else ""))
        elif args.limit:
            print(f"evicted {len(cache_tool.limit(args.limit, args.cache_dir))} entries")
        print(cache_tool.listing(args.cache_dir))
    elif args.command == "serve":
        from scifig_tools.serve import RangeServer

        server = RangeServer(args.directory, args.host, args.port)
        print(f"serving {args.directory} at {server.url} (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()
    return 0


def _add_source(parser):
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-dir", help="folder holding benchmark.zip / pretraindata.zip or their unzipped folders")
    source.add_argument("--base-url", help="a mirror serving the archives, e.g. http://127.0.0.1:8000/")


if __name__ == "__main__":
    sys.exit(main())
