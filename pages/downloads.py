"""Files of a run served straight from disk, in chunks, by the app's own web server.

Streamlit's download button holds a file's bytes in the server's memory (and hashes them) on every
click: a 500 MB ``model.pt`` cost seconds and hundreds of MB each time. The weights are therefore a
link to this route instead, which streams the file from disk. Only the files named here, only
regular files inside a run folder of the runs root (no link out, no other path), are served.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from vgg_core.run_folder import MODEL, PREDICTIONS, RunDirError, run_file, runs_root, safe_run_dir

SERVED = (MODEL, PREDICTIONS)
PREFIX = "runfiles"


def url(run_id: str, name: str) -> str:
    """The link to one file of a run, relative to the page (the app's base path is kept)."""
    return f"{PREFIX}/{run_id}/{name}"


async def serve(request: Request) -> Response:
    run_id, name = request.path_params["run_id"], request.path_params["name"]
    try:
        path = run_file(safe_run_dir(runs_root(), run_id), name) if name in SERVED else None
    except RunDirError:
        path = None
    if path is None:
        return PlainTextResponse("no such file in this app's runs", status_code=404)
    return FileResponse(path, filename=f"{run_id}-{name}", media_type="application/octet-stream")


ROUTES = [Route(f"/{PREFIX}/{{run_id}}/{{name}}", serve, methods=["GET", "HEAD"])]
