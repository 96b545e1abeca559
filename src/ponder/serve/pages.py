"""The server's pages: the playground at /, the explorer, their static files, and /docs offline.

Everything a browser loads comes from the package (``static/``): the playground's page, script and
style, and the vendored Swagger UI that /docs shows over an OpenAPI document whose request bodies
are ``schema.py``'s models. Two small routes serve the playground: a drawn problem and the
strategies a request may name.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse

from ponder.errors import UserError
from ponder.serve.protocol import ApiError

STATIC = Path(__file__).parent / "static"
"""The playground and the vendored Swagger UI: files in the package, no network at run time."""


def add_pages(app: FastAPI, server) -> None:
    """The playground at /, the explorer, their files under /static, a problem to try, the
    strategies, and /docs: Swagger UI from the package over the OpenAPI document."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.openapi.utils import get_openapi
    from fastapi.staticfiles import StaticFiles

    from ponder.serve.schema import schemas

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def playground():
        return FileResponse(STATIC / "index.html")

    @app.get("/explorer", include_in_schema=False)
    async def explorer():
        return RedirectResponse("/static/explorer.html")

    @app.get("/strategies")
    async def strategies():
        """The strategies and effort levels a request may name (``ponder strategies``)."""
        from ponder.search import EFFORTS, strategy_names

        return {"strategies": strategy_names(), "efforts": list(EFFORTS)}

    @app.get("/problems/random")
    async def random_problem(task: str | None = None, seed: int = 0):
        """A problem of ``task`` (default: the server's) from its test split, in words, for the playground."""
        from ponder.tasks import get_task
        from ponder.tasks.statements import statement

        try:
            chosen = get_task(task) if task else server.task
        except UserError as e:
            raise ApiError(400, str(e), "task") from None
        if task and task not in server.tasks and task != server.task.name:
            raise ApiError(400, f"this server answers {', '.join(server.tasks)}; not {task}", "task")
        [problem] = await asyncio.to_thread(chosen.problems, "test", 1, abs(seed) % (1 << 31))
        return {"task": chosen.name, "text": statement(problem), "problem": problem.to_json()}

    @app.get("/docs", include_in_schema=False)
    async def docs():
        ui = "/static/vendor/swagger-ui"
        return get_swagger_ui_html(openapi_url="/openapi.json", title="ponder API", swagger_js_url=f"{ui}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ui}/swagger-ui.css", swagger_favicon_url=f"{ui}/favicon-32x32.png")

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas())
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi


__all__ = ["STATIC", "add_pages"]
