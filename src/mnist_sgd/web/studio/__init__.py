"""The training studio (``mnist-sgd studio``): train, watch and step SGD live.

``app``: routes and the OpenAPI document; ``trainings``: each training in a
worker thread; ``config``: the options a page may send; ``events``: the event
stream; ``step``: one batch's seven steps.
"""

from mnist_sgd.web.studio.app import create_studio_app

__all__ = ["create_studio_app"]
