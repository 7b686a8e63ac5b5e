"""What both web apps (``draw``, ``studio``) use; it imports neither of them.

``server``: the Starlette app both are built on (security guard, JSON errors,
static files, worker threads); ``body``: reading an upload within limits;
``images``: uploaded bytes to the 28x28 picture a model sees, predictions and
weight pictures as JSON; ``openapi``: each ``/api`` route with its own
documentation, and the OpenAPI document generated from them.
"""
