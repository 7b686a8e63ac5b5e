"""The web apps: the draw-a-digit page (``mnist-sgd serve``) and the studio (``mnist-sgd studio``).

Needs the optional extra ``web`` (``pip install 'mnist-sgd[web]'``: Starlette,
uvicorn, python-multipart). ``create_app(run_dir)`` builds the draw page's
Starlette app (``draw/``), ``create_studio_app(runs_dir)`` the studio's
(``studio/``); ``shared/`` holds what both use. The pages' HTML, script and
style live in ``static/`` inside the package.
"""

from typing import TYPE_CHECKING

from mnist_sgd.lazy import lazy_exports

__all__ = ["create_app", "create_studio_app"]
lazy_exports(
    __name__,
    {"create_app": "mnist_sgd.web.draw.app", "create_studio_app": "mnist_sgd.web.studio.app"},
)

if TYPE_CHECKING:
    from mnist_sgd.web.draw.app import create_app
    from mnist_sgd.web.studio.app import create_studio_app
