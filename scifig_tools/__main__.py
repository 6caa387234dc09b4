"""python -m scifig_tools <command>: preview, dummy-data, serve."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scifig_tools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    preview = commands.add_parser("preview", help="print a config's features and first rows")
    preview.add_argument("config")
    preview.add_argument("--split", default="validation")
    preview.add_argument("--limit", type=int, default=3)
    _add_source(preview)
    preview.add_argument("--subjects", nargs="+")
    preview.add_argument("--categories", nargs="+")

    dummy = commands.add_parser("dummy-data", help="rebuild dummy_data/*.zip from dummy_data/source/")
    dummy.add_argument("--out", default=None)

    serve = commands.add_parser("serve", help="serve a folder of archives with HTTP Range support")
    serve.add_argument("directory")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    args = parser.parse_args(argv)
    if args.command == "preview":
        from scifig_tools.preview import preview as run

        filters = {key: value for key, value in (("subjects", args.subjects), ("categories", args.categories)) if value}
        run(args.config, args.split, args.limit, data_dir=args.data_dir, base_url=args.base_url, **filters)
    elif args.command == "dummy-data":
        from scifig_tools import dummy_data

        for path in dummy_data.build(args.out or dummy_data.ROOT / "dummy_data"):
            print(f"wrote {path} ({path.stat().st_size} bytes)")
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
