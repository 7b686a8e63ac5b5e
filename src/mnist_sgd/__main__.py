"""``python -m mnist_sgd``: the same as the ``mnist-sgd`` command."""

import signal
import sys

signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C, from the first line
try:
    from mnist_sgd.cli import main
except KeyboardInterrupt:
    print("mnist-sgd: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
