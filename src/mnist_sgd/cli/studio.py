"""``mnist-sgd studio``: train in the browser and watch SGD learn, live, on a local server."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_data_options, data_options

DESCRIPTION = (
    "Serve a page where you pick the options, press Train, and watch the loss, the weights "
    "and the predictions change live; Step runs one batch and shows the seven steps. Every "
    "training is a run folder under --runs-dir. Needs the extra 'web': "
    "pip install 'mnist-sgd[web]'. API documentation: /openapi.json."
)


def add_parser(subparsers: Any) -> None:
    """Register ``studio``."""
    from mnist_sgd.cli.serve import port_number

    p = subparsers.add_parser(
        "studio",
        help="a local web page to train a model and watch SGD learn, batch by batch",
        description=DESCRIPTION,
        epilog="example: mnist-sgd studio --port 8000 --runs-dir runs",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but loopback exposes the page to others",
    )
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (0: any free port)")
    p.add_argument("--runs-dir", type=Path, default=Path("runs"), help="where run folders go")
    p.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda", "mps"], help="where to train"
    )
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    add_data_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Bind, open the browser, serve until Ctrl-C (trainings stop with a checkpoint)."""
    from mnist_sgd.cli.serve import bind, is_loopback, require_web_extra, url

    require_web_extra()
    app = make_app(args)
    sock = bind(args.host, args.port)
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}, not loopback: anyone who can reach this "
            "machine can train here; use --host 127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    print(f"studio at {url(sock)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if not args.no_browser:
        open_browser(url(sock))
    serve(app, sock)
    print(
        "stopped; interrupted trainings can continue with 'mnist-sgd train --resume RUN'",
        file=sys.stderr,
    )
    return 0


def make_app(args: argparse.Namespace) -> Any:
    """The studio app the flags describe (loopback: only loopback ``Host`` headers)."""
    from mnist_sgd.cli.serve import LOOPBACK_NAMES, is_loopback
    from mnist_sgd.web import create_studio_app

    return create_studio_app(
        args.runs_dir,
        data_options=data_options(args, progress=True),
        device=args.device,
        allowed_hosts=[*LOOPBACK_NAMES, args.host] if is_loopback(args.host) else None,
    )


def serve(app: Any, sock: Any) -> None:
    """Serve until Ctrl-C."""
    import uvicorn

    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=10
    )
    server = studio_server_class(app.state.studio)(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after a clean stop
        server.run(sockets=[sock])


def studio_server_class(studio: Any) -> type:
    """uvicorn's Server, but Ctrl-C first stops ``studio``'s trainings, so open streams end."""
    import uvicorn

    class StudioServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            studio.stop_all()  # each saves a checkpoint and says "done"
            super().handle_exit(sig, frame)

    return StudioServer


def open_browser(address: str) -> None:
    """Open ``address`` in the user's browser, if there is one (never fails)."""
    import webbrowser

    with contextlib.suppress(Exception):
        webbrowser.open(address, new=2)
