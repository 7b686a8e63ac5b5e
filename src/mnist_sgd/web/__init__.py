"""The draw-a-digit page (``mnist-sgd serve``): draw, watch the model decide.

Needs the optional extra ``web`` (``pip install 'mnist-sgd[web]'``: Starlette,
uvicorn, python-multipart). ``create_app(run_dir)`` builds the Starlette app;
the page's HTML, script and style live in ``static/`` inside the package.
"""

from mnist_sgd.web.app import create_app

__all__ = ["create_app"]
