"""The draw-a-digit page (``mnist-sgd serve``): draw, watch the model decide."""

from mnist_sgd.web.draw.app import create_app

__all__ = ["create_app"]
