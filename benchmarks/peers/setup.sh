#!/bin/sh
# The peer environment for benchmarks/bench_peers.py: fastai in its own venv, outside the repo.
#
#   sh benchmarks/peers/setup.sh [VENV]        (default /work/peer-venv; ~6 GB, takes minutes)
#
# fastai needs torchvision; torch and torchvision are pinned to a matching pair
# (on this project's machines both wheels lie on local disk, a CUDA build that
# runs on the CPU). The benchmarks find the venv at /work/peer-venv, or at
# $MNIST_SGD_PEER_PYTHON (the venv's python). Without it the fastai rows are
# reported as skipped.
set -eu
VENV="${1:-/work/peer-venv}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install torch==2.14.1 torchvision==0.29.1
"$VENV/bin/pip" install fastai
"$VENV/bin/python" -c "import torch, fastai; print('peer venv ready: torch', torch.__version__, 'fastai', fastai.__version__)"
