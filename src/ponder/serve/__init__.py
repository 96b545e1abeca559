"""``ponder serve``: the OpenAI-compatible reasoning server (FastAPI + uvicorn, the ``serve`` extra).

``protocol`` reads requests and writes responses (pure), ``scheduler`` batches every request's
searches on one engine thread, ``app`` wires them into routes."""

from ponder.serve.app import ServeConfig, Server, create_app, serve

__all__ = ["ServeConfig", "Server", "create_app", "serve"]
