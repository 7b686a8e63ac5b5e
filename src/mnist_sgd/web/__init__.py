"""The web apps: the draw-a-digit page (``mnist-sgd serve``) and the studio (``mnist-sgd studio``).

Needs the optional extra ``web`` (``pip install 'mnist-sgd[web]'``: Starlette, uvicorn,
python-multipart). ``draw/`` and ``studio/`` each build one app and import ``shared/``,
never each other; the pages' HTML, script and style live in ``static/``.
"""

from mnist_sgd.web.draw.app import create_app
from mnist_sgd.web.studio.app import create_studio_app

__all__ = ["create_app", "create_studio_app"]
