"""``mnist-sgd studio``: train in the browser and watch SGD learn, live, on a local server."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_data_options, data_options, positive_int
from mnist_sgd.config.registry import DEVICE_NAMES

DESCRIPTION = (
    "Serve a page where you pick the options, press Train, and watch the loss, the weights "
    "and the predictions change live; Step runs one batch and shows the seven steps. Every "
    "training is a run folder under --runs-dir. Needs the extra 'web': "
    "pip install 'mnist-sgd[web]'. API documentation: /openapi.json."
)


def add_parser(subparsers: Any) -> None:
    from mnist_sgd.cli.serve import add_host_port

    p = subparsers.add_parser(
        "studio",
        help="a local web page to train a model and watch SGD learn, batch by batch",
        description=DESCRIPTION,
        epilog="examples:\n  mnist-sgd studio --port 8000 --runs-dir runs\n"
        "  mnist-sgd studio --dataset ~/kaggle/train.csv --dataset ~/class-digits",
    )
    add_host_port(p)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run folders go")
    p.add_argument("--device", default="auto", choices=DEVICE_NAMES, help="where to train")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument(
        "--dataset",
        dest="datasets",
        action="append",
        default=[],
        metavar="PATH",
        help="also offer your own set on the page (a folder of class folders, a Kaggle CSV, a "
        "folder of IDX files); repeat for more. The page reads no other path",
    )
    p.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="a label picker and Save beside the pad: each drawing is written as a 28x28 PNG "
        "into DIR/<label>/ (loopback only), a class-folder set for --dataset DIR",
    )
    p.add_argument(
        "--collect-max",
        type=positive_int,
        default=2000,
        metavar="N",
        help="most PNGs --collect writes into DIR (and at most 20 MB)",
    )
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Bind, open the browser, serve until Ctrl-C (trainings stop with a checkpoint)."""
    from mnist_sgd.cli import serve

    serve.require_web_extra()
    import uvicorn

    from mnist_sgd.web import create_studio_app
    from mnist_sgd.web.shared.collect import Collector

    if args.collect is not None and not serve.is_loopback(args.host):
        raise ValueError(f"--collect writes files: only on loopback, not --host {args.host}")
    collect = None if args.collect is None else Collector(args.collect, [], args.collect_max)

    app = create_studio_app(
        args.runs_dir,
        data_options=data_options(args, progress=True),
        device=args.device,
        allowed_hosts=serve.allowed_hosts(args.host, args.allow_host),
        token=(token := serve.access_token(args.host)),
        datasets=args.datasets,
        collect=collect,
    )
    sock = serve.listen(args.host, args.port, "train here")
    where = serve.url(sock, token)
    print(f"studio at {where} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if not args.no_browser:
        import webbrowser

        with contextlib.suppress(Exception):  # no browser: the line above says where
            webbrowser.open(where, new=2)
    studio = app.state.studio

    class StudioServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            studio.stop_all()  # Ctrl-C stops the trainings first (each saves a checkpoint)
            super().handle_exit(sig, frame)

    from mnist_sgd.web.shared.head import server_options

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
        **server_options(),
    )
    serve.serve_until_ctrl_c(StudioServer(config), sock)
    print(
        "stopped; interrupted trainings can continue with 'mnist-sgd train --resume RUN'",
        file=sys.stderr,
    )
    return 0
