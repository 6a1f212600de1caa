"""`dsc serve` with its app swapped for a bare Starlette app that answers GET /healthz
as the real one does: the same server stack with the same options, for bench_goals.py's
/healthz baseline. The bare app's answers carry `x-bare-app: 1`, so the bench can tell
when a server stack loaded the real app after all (its workers import it afresh).

    python bench/bare_serve.py serve --listen 127.0.0.1:0 --db DB
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from host import cli  # noqa: E402
from host.server import app  # noqa: E402


def bare_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def healthz(request):
        return JSONResponse({"status": "ok"}, headers={"x-bare-app": "1"})

    return Starlette(routes=[Route("/healthz", healthz)])


app.from_env = bare_app

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
