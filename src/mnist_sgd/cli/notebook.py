"""``mnist-sgd notebook``: copy the walkthrough out of the package and open it in JupyterLab."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from mnist_sgd.errors import MnistSgdError
from mnist_sgd.files import atomic_write_bytes

WALKTHROUGH = "seed_walkthrough.ipynb"
WALKTHROUGHS = {"en": WALKTHROUGH, "ko": "seed_walkthrough.ko.ipynb"}  # --lang: its file
MISSING = "JupyterLab is missing; install it with: pip install 'mnist-sgd[notebook]'"
EXAMPLES = """examples:
  mnist-sgd notebook                      # ./mnist-sgd-notebooks/seed_walkthrough.ipynb, opened
  mnist-sgd notebook --dir ~/chapter4     # copied there (a copy already there is kept)
  mnist-sgd notebook --lang ko            # the Korean walkthrough, seed_walkthrough.ko.ipynb
  mnist-sgd notebook --no-browser --port 8899 -- --ServerApp.ip=0.0.0.0   # more for jupyter lab
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "notebook",
        help="open the chapter 4 walkthrough in JupyterLab",
        description=(
            "Copy the walkthrough notebook that ships with mnist-sgd into a folder (a copy "
            "already there is kept, edits and all) and start JupyterLab on it. Needs the "
            "[notebook] extra: pip install 'mnist-sgd[notebook]'. Ctrl-C stops the server."
        ),
        epilog=EXAMPLES,
    )
    p.add_argument(
        "--dir", type=Path, default=Path("mnist-sgd-notebooks"), help="the folder to work in"
    )
    p.add_argument(
        "--lang",
        choices=sorted(WALKTHROUGHS),
        default="en",
        help="the walkthrough's language: en, or ko for Korean",
    )
    p.add_argument("--port", type=int, default=None, help="JupyterLab's port (default: its own)")
    p.add_argument("--no-browser", action="store_true", help="start the server only")
    p.add_argument("jupyter_args", nargs=argparse.REMAINDER, help="after --: for jupyter lab")
    p.set_defaults(run=run, needs_torch=False)


def copy_walkthrough(folder: Path, lang: str = "en") -> Path:
    """The packaged walkthrough in ``lang`` copied into ``folder`` unless one is there; its path."""
    name = WALKTHROUGHS[lang]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        source = resources.files("mnist_sgd") / "notebooks" / name
        atomic_write_bytes(target, source.read_bytes())  # a whole copy or none
    return target


def lab_command(notebook: Path, port: int | None, no_browser: bool, extra: list[str]) -> list[str]:
    """``python -m jupyterlab`` in this environment, rooted at the notebook's folder."""
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebook.parent}"]
    command += [] if port is None else [f"--port={port}"]
    command += ["--no-browser"] if no_browser else []
    return [*command, *[a for a in extra if a != "--"], str(notebook)]


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("jupyterlab") is None:
        raise MnistSgdError(MISSING)
    notebook = copy_walkthrough(args.dir.expanduser().resolve(), args.lang)
    print(f"mnist-sgd: opening {notebook} in JupyterLab (Ctrl-C stops it)", file=sys.stderr)
    server = subprocess.Popen(lab_command(notebook, args.port, args.no_browser, args.jupyter_args))
    try:
        return server.wait()
    finally:  # interrupted or killed by SIGTERM (which the CLI raises as Ctrl-C): stop it too
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
