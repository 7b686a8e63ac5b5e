"""``python -m mnist_sgd``: the same as the ``mnist-sgd`` command."""

import sys

from mnist_sgd.cli import main

sys.exit(main())
