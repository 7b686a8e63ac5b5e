"""The ``mnist-sgd`` command line: a thin layer over the library.

Each subcommand lives in its own module with ``add_parser(subparsers)`` and
``run(args) -> int``. A command module imports the library inside ``run``, so
building the parser (``--help``) imports no torch; a command that never needs
tensors says so with ``set_defaults(needs_torch=False)`` (no thread or allocator set-up).
Expected errors become one line on stderr and an exit code (2 usage, 1 runtime,
130 interrupted); a traceback only with ``--debug``. A reader that closes the
pipe early (``mnist-sgd data list | head -1``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NoReturn

from mnist_sgd.cli.common import HelpFormatter
from mnist_sgd.config.memory import keep_freed_memory
from mnist_sgd.errors import ConfigError, MnistSgdError, one_line

OS_HINTS = {
    errno.ENOSPC: "; free some disk space and run it again (an interrupted train can --resume)",
    errno.EDQUOT: "; free some disk space and run it again (an interrupted train can --resume)",
    errno.EACCES: "; choose a folder you can write to",
    errno.EROFS: "; choose a folder you can write to",
}
COMMANDS = (
    "data",
    "train",
    "evaluate",
    "predict",
    "report",
    "recipes",
    "lr_find",
    "bench",
    "serve",
    "studio",
    "notebook",
)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with the one help layout; a usage error is one line on stderr."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mnist-sgd",
        description="Train fastbook chapter 4's digit classifier with SGD from scratch.",
        epilog="Run 'mnist-sgd COMMAND --help' for each command's options and examples.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(needs_torch=True)  # a command that needs no tensors sets it False
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=ArgumentParser
    )
    for name in COMMANDS:
        importlib.import_module(f"mnist_sgd.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mnist-sgd ARGV``; Ctrl-C or SIGTERM at any moment: one line and exit 130.

    The signals are handled from the first instruction, before torch is imported (a second
    or more), so an early Ctrl-C is said as a late one is.
    """
    try:
        with _sigterm_as_interrupt():
            code = _main(argv)
    except KeyboardInterrupt:
        print("mnist-sgd: interrupted", file=sys.stderr)
        code = 130
    if "TORCHELASTIC_RUN_ID" in os.environ:  # a worker of `train --nproc N` or torchrun
        _leave(code)
    return code


def _leave(code: int) -> None:
    """End a torchrun worker now, its run folder written and closed: no C++ teardown.

    A worker stopped by Ctrl-C could abort in the static destructors of torch's
    distributed threads at interpreter exit ("terminate called without an active
    exception" on the terminal, about one run in ten on a loaded machine), after its
    checkpoint was saved and its line said. Python's own clean-up has nothing left to do.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # --help, or a usage error already printed on one line
        return done.code if isinstance(done.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    if args.needs_torch and "OMP_NUM_THREADS" not in os.environ:  # a count the user chose wins
        from mnist_sgd.config.threads import set_sensible_threads

        set_sensible_threads()  # one per core the CPU quota allows, less one for everything else
    if args.needs_torch and not user_tunes_malloc(os.environ):  # so do their malloc settings
        keep_freed_memory()  # a step's tensors reuse the last step's pages (glibc only)
    return _run(args)


def user_tunes_malloc(environ: Mapping[str, str]) -> bool:
    """True when ``environ`` tunes glibc's allocator itself: the user's choice, left alone."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return "glibc.malloc" in tunables or any(name.startswith("MALLOC_") for name in environ)


def _run(args: argparse.Namespace) -> int:
    """``args.run(args)``, its failures turned into one line and an exit code."""
    previous_format, warnings.formatwarning = warnings.formatwarning, _warning_line
    try:
        return int(args.run(args))
    except BrokenPipeError:  # the reader has gone: no message, and none at exit either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it
    except (MnistSgdError, ValueError, OSError) as error:
        report_error(error, debug=args.debug, command=args.command)
        return 2 if isinstance(error, ValueError) else 1
    finally:
        warnings.formatwarning = previous_format


def report_error(error: BaseException, *, debug: bool = False, command: str = "") -> None:
    """``mnist-sgd: error: ...`` on one line on stderr (after the traceback with ``--debug``)."""
    if debug:
        traceback.print_exception(error)
    if isinstance(error, ConfigError) and str(error).startswith("argument --"):  # a flag's value
        prog = f"mnist-sgd {command}"  # said as argparse says its own usage errors
        print(f"{prog}: error: {one_line(error)} (see '{prog} --help')", file=sys.stderr)
        return
    print(f"mnist-sgd: error: {_one_line(error, command)}", file=sys.stderr)


def _warning_line(message: Warning | str, *_: object, **__: object) -> str:
    return f"mnist-sgd: warning: {one_line(message)}\n"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does: same clean-up, message, exit 130.

    ``train`` replaces it during the fit with a clean stop and a checkpoint.
    """
    try:
        previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line(error: BaseException, command: str) -> str:
    """The error on one line (``errors.one_line``), with what to do for a few OS errors."""
    if isinstance(error, OSError) and not isinstance(error, MnistSgdError) and error.strerror:
        hint = OS_HINTS.get(error.errno or 0, "")
        if command != "train":
            hint = hint.replace(" (an interrupted train can --resume)", "")
        return one_line(error) + hint
    return one_line(error)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
