"""`python -m scifig_tools serve DIR`: a folder of archives over HTTP with Range support, for `base_url=`."""

import argparse

from scifig_tools.cli import add_command


def register(commands):
    parser = add_command(commands, "serve", "serve a folder of archives with HTTP Range support")
    parser.add_argument("directory", help="the folder holding benchmark.zip, pretraindata.zip and rawdata.zip")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="the port to listen on")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serves until interrupted (Ctrl-C).

    Args:
        args: the parsed command line (directory, host, port).

    Returns:
        The exit status, 0.
    """
    from scifig_tools.serve import RangeServer

    server = RangeServer(args.directory, args.host, args.port)
    print(f"serving {args.directory} at {server.url} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
    return 0
