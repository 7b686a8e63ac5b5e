"""``mnist-sgd serve RUN``: the draw-a-digit page for a trained run, on a local web server."""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import ipaddress
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnist_sgd.cli.common import add_run_dir, positive_int
from mnist_sgd.errors import MnistSgdError

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
NEEDED = (
    ("starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("python_multipart", "python-multipart"),
)


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="a local web page to draw a digit and watch the model decide",
        description="Serve a page where you draw a digit (mouse, pen or finger) or drop an "
        "image, and watch the model's probabilities move. Needs the extra 'web': "
        "pip install 'mnist-sgd[web]'. API documentation: /openapi.json.",
        epilog="example: mnist-sgd serve runs/mnist-linear-20261129-101500 --port 8000",
    )
    add_run_dir(p)
    add_host_port(p)
    p.add_argument("--max-mb", type=float, default=10.0, help="largest upload, in MiB")
    p.add_argument(
        "--collect",
        type=Path,
        metavar="DIR",
        help="show a label picker and Save: each drawing is written as a 28x28 PNG into "
        "DIR/<label>/ (loopback only), for 'evaluate RUN --dataset DIR' and "
        "'train --init-from RUN --dataset DIR'",
    )
    p.add_argument(
        "--collect-max",
        type=positive_int,
        default=2000,
        metavar="N",
        help="most PNGs --collect writes into DIR (and at most 20 MB)",
    )
    p.set_defaults(run=run)


def add_host_port(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; anything but loopback exposes the page to others",
    )
    p.add_argument("--port", type=port_number, default=8000, help="TCP port (0: any free port)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name the page is opened by (its Host header): loopback, this machine's "
        "name and addresses are always answered, anything else refused; repeatable",
    )


def port_number(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 0..65535, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    require_web_extra()
    import uvicorn

    from mnist_sgd.web import create_app

    if not args.max_mb > 0:
        raise ValueError(f"--max-mb must be > 0, got {args.max_mb}")
    if args.collect is not None and not is_loopback(args.host):
        raise ValueError(f"--collect writes files: only on loopback, not --host {args.host}")
    app = create_app(
        args.run_dir,
        max_body=int(args.max_mb * 1024 * 1024),
        allowed_hosts=allowed_hosts(args.host, args.allow_host),
        token=(token := access_token(args.host)),
        collect=collector(args),
    )
    sock = listen(args.host, args.port, "use the page")
    where = url(sock, token)
    print(f"serving {args.run_dir} at {where} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    from mnist_sgd.web.shared.head import server_options

    config = uvicorn.Config(app, log_level="warning", access_log=False, **server_options())
    server = uvicorn.Server(config)
    serve_until_ctrl_c(server, sock)
    print("stopped", file=sys.stderr)
    return 0


def collector(args: argparse.Namespace) -> Any:
    """The ``Collector`` for ``--collect DIR`` (None without it)."""
    if args.collect is None:
        return None
    from mnist_sgd.runs.info import read_run_info
    from mnist_sgd.web.shared.collect import Collector

    classes = [str(c) for c in read_run_info(args.run_dir)["classes"]]
    return Collector(args.collect, classes, max_files=args.collect_max)


def allowed_hosts(host: str, names: Sequence[str] = ()) -> list[str]:
    """The ``Host`` headers answered (against DNS rebinding): loopback, ``host``, ``names``,
    and beyond loopback this machine's own names and addresses."""
    allowed = [*LOOPBACK_NAMES, host, *names]
    if not is_loopback(host):
        allowed += machine_names()
    return [name.lower() for name in allowed]


def machine_names() -> list[str]:
    """This machine's host name, full name and addresses (IPv6 in brackets, as ``Host`` has it)."""
    name = socket.gethostname()
    found = [name, socket.getfqdn()]
    with contextlib.suppress(OSError):
        for *_, address in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM):
            found.append(f"[{address[0]}]" if ":" in str(address[0]) else str(address[0]))
    return found


def access_token(host: str) -> str | None:
    """A fresh token for a server bound beyond loopback (None on loopback: it is yours alone)."""
    return None if is_loopback(host) else secrets.token_urlsafe(24)


def listen(host: str, port: int, use: str) -> socket.socket:
    """``bind``, warning on stderr when anyone who can reach ``host`` can ``use`` it."""
    sock = bind(host, port)
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, not loopback: anyone who can reach this "
            f"machine can {use}; use --host 127.0.0.1 to keep it local",
            file=sys.stderr,
        )
    return sock


def serve_until_ctrl_c(server: Any, sock: socket.socket) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises Ctrl-C after a clean stop
        server.run(sockets=[sock])


def require_web_extra() -> None:
    missing = [pip for module, pip in NEEDED if importlib.util.find_spec(module) is None]
    if missing:
        raise MnistSgdError(
            f"'serve' needs {', '.join(missing)}, which are not installed; "
            "install them with: pip install 'mnist-sgd[web]'"
        )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, with a one-line error when that is impossible."""
    try:
        family = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise MnistSgdError(f"--host {host}: not a known address or host name") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        hint = "choose another --port" if port else "check --host"
        raise MnistSgdError(f"cannot listen on {host}:{port}: {error.strerror}; {hint}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url(sock: socket.socket, token: str | None = None) -> str:
    """The address to open; with a token, the one that hands it to the browser."""
    host, port = sock.getsockname()[:2]
    where = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    return where if token is None else f"{where}?token={token}"
