"""The mock's admin API under ``/_mock/``: faults, outages, counters, reset and the virtual clock.

Guarded by its own token (``admin_token`` in the config; send ``Authorization: Bearer <token>``) so a
gateway under test that forwards client headers can never reach it by accident.

    GET    /_mock/health                       liveness, no token needed
    GET    /_mock/config                       the configuration in force
    GET    /_mock/counters                     requests, tokens, 429s, errors, faults per deployment
    GET    /_mock/limits                       the rate-limit windows and model limits per deployment
    POST   /_mock/reset                        counters, windows, faults and clock back to the config, and
                                               the mounted services' state (MCP sessions, A2A tasks, blocklists)
    GET    /_mock/faults                       faults per deployment
    PUT    /_mock/faults/{deployment}          replace a deployment's faults (body: Faults)
    PATCH  /_mock/faults/{deployment}          change some fields
    DELETE /_mock/faults/{deployment}          clear them
    POST   /_mock/outage/{deployment}          {"down": true|false}
    GET    /_mock/requests?limit=N             the last requests received as they arrived (raw path, query,
                                               headers; ``admin`` marks the admin token's own calls)
    GET    /_mock/clock                        {"offset_seconds", "wall"}
    POST   /_mock/clock/advance                {"seconds": 61}

The guard, the JSON answers and the body reading are shared with the other admin APIs (``/_mock/mcp``, ``/_mock/a2a``).
"""

from typing import Any, Awaitable, Callable

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aigw.mocks.config import Faults
from aigw.mocks.state import MockState


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


Handler = Callable[[Request], Awaitable[Response]]


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), status, media_type="application/json")


def error_response(status: int, message: str) -> Response:
    return json_response({"error": {"code": str(status), "message": message, "param": None, "type": "admin"}}, status)


def guard(admin_token: str) -> Callable[[Handler], Handler]:
    """Wrap a handler: 401 without ``Authorization: Bearer <admin_token>``; an ``AdminError`` becomes its answer."""
    token = f"Bearer {admin_token}"

    def guarded(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.headers.get("authorization") != token:
                return error_response(401, "the admin API needs Authorization: Bearer <admin_token>")
            try:
                return await handler(request)
            except AdminError as exc:
                return error_response(exc.status, exc.message)

        return endpoint

    return guarded


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body counts as ``{}``); 400 for anything else."""
    try:
        value = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise AdminError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise AdminError(400, "body must be a JSON object")
    return value


def invalid_faults(exc: ValidationError) -> AdminError:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
    return AdminError(400, f"invalid faults: {problems}")


def _model_limits(deployment) -> dict[str, int | None]:
    return {"context_window": deployment.context_window, "max_completion_tokens": deployment.max_completion_tokens,
            "max_input_tokens": deployment.max_input_tokens}


def build(state: MockState) -> Starlette:
    guarded = guard(state.config.admin_token)

    def deployment_of(request: Request):
        name = request.path_params["deployment"]
        if name not in state.deployments:
            raise AdminError(404, f"no deployment named {name!r}; have: {', '.join(state.deployments)}")
        return state.deployments[name]

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def config(request: Request) -> Response:
        return json_response(state.config.model_dump(mode="json"))

    async def counters(request: Request) -> Response:
        return json_response({"deployments": {n: s.counters.as_dict() for n, s in state.deployments.items()}})

    async def limits(request: Request) -> Response:
        now = state.clock.monotonic()
        return json_response({"deployments": {n: {**s.limiter.snapshot(now), **_model_limits(s.deployment)}
                                              for n, s in state.deployments.items()}})

    async def reset(request: Request) -> Response:
        state.reset()
        return json_response({"status": "reset"})

    async def faults(request: Request) -> Response:
        return json_response({"deployments": {n: s.faults.faults.model_dump(mode="json") for n, s in state.deployments.items()}})

    async def put_faults(request: Request) -> Response:
        target = deployment_of(request)
        body = await body_of(request)
        if request.method == "PATCH":
            body = {**target.faults.faults.model_dump(), **body}
        try:
            target.set_faults(Faults.model_validate(body))
        except ValidationError as exc:
            raise invalid_faults(exc) from None
        return json_response(target.faults.faults.model_dump(mode="json"))

    async def delete_faults(request: Request) -> Response:
        target = deployment_of(request)
        target.set_faults(Faults())
        return json_response(target.faults.faults.model_dump(mode="json"))

    async def outage(request: Request) -> Response:
        target = deployment_of(request)
        down = (await body_of(request)).get("down", True)
        if not isinstance(down, bool):
            raise AdminError(400, '"down" must be true or false')
        target.set_faults(target.faults.faults.model_copy(update={"outage": down}))
        return json_response({"deployment": target.deployment.name, "down": down})

    async def requests_(request: Request) -> Response:
        raw = request.query_params.get("limit")
        if raw is not None and not raw.isdigit():
            raise AdminError(400, '"limit" must be a non-negative integer')
        return json_response({"requests": state.requests.entries(int(raw) if raw else None)})

    async def clock(request: Request) -> Response:
        return json_response({"offset_seconds": state.clock.offset, "wall": state.clock.wall()})

    async def advance(request: Request) -> Response:
        seconds = (await body_of(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise AdminError(400, '"seconds" must be a non-negative number')
        state.clock.advance(float(seconds))
        return json_response({"offset_seconds": state.clock.offset, "wall": state.clock.wall()})

    routes = [
        Route("/_mock/health", health),
        Route("/_mock/config", guarded(config)),
        Route("/_mock/counters", guarded(counters)),
        Route("/_mock/limits", guarded(limits)),
        Route("/_mock/reset", guarded(reset), methods=["POST"]),
        Route("/_mock/faults", guarded(faults)),
        Route("/_mock/faults/{deployment}", guarded(put_faults), methods=["PUT", "PATCH"]),
        Route("/_mock/faults/{deployment}", guarded(delete_faults), methods=["DELETE"]),
        Route("/_mock/outage/{deployment}", guarded(outage), methods=["POST"]),
        Route("/_mock/requests", guarded(requests_)),
        Route("/_mock/clock", guarded(clock)),
        Route("/_mock/clock/advance", guarded(advance), methods=["POST"]),
    ]
    return Starlette(routes=routes)
