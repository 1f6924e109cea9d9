"""The mock's admin API under ``/_mock/``: faults, outages, counters, reset and the virtual clock.

Guarded by its own token (``admin_token`` in the config; send ``Authorization: Bearer <token>``) so a
gateway under test that forwards client headers can never reach it by accident.

    GET    /_mock/health                       liveness, no token needed
    GET    /_mock/config                       the configuration in force
    GET    /_mock/counters                     requests, tokens, 429s, errors, faults per deployment
    GET    /_mock/limits                       the rate-limit windows per deployment
    POST   /_mock/reset                        counters, windows, faults and clock back to the config
    GET    /_mock/faults                       faults per deployment
    PUT    /_mock/faults/{deployment}          replace a deployment's faults (body: Faults)
    PATCH  /_mock/faults/{deployment}          change some fields
    DELETE /_mock/faults/{deployment}          clear them
    POST   /_mock/outage/{deployment}          {"down": true|false}
    GET    /_mock/clock                        {"offset_seconds", "wall"}
    POST   /_mock/clock/advance                {"seconds": 61}
"""

from typing import Any

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


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS), status, media_type="application/json")


def build(state: MockState) -> Starlette:
    token = f"Bearer {state.config.admin_token}"

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            if request.headers.get("authorization") != token:
                return _json({"error": {"code": "401", "message": "the admin API needs Authorization: Bearer <admin_token>",
                                        "param": None, "type": "admin"}}, 401)
            try:
                return await handler(request)
            except AdminError as exc:
                return _json({"error": {"code": str(exc.status), "message": exc.message, "param": None, "type": "admin"}}, exc.status)

        return endpoint

    async def body_of(request: Request) -> dict[str, Any]:
        try:
            value = orjson.loads(await request.body() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise AdminError(400, f"body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise AdminError(400, "body must be a JSON object")
        return value

    def deployment_of(request: Request):
        name = request.path_params["deployment"]
        if name not in state.deployments:
            raise AdminError(404, f"no deployment named {name!r}; have: {', '.join(state.deployments)}")
        return state.deployments[name]

    async def health(request: Request) -> Response:
        return _json({"status": "ok"})

    async def config(request: Request) -> Response:
        return _json(state.config.model_dump(mode="json"))

    async def counters(request: Request) -> Response:
        return _json({"deployments": {n: s.counters.as_dict() for n, s in state.deployments.items()}})

    async def limits(request: Request) -> Response:
        now = state.clock.monotonic()
        return _json({"deployments": {n: s.limiter.snapshot(now) for n, s in state.deployments.items()}})

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"status": "reset"})

    async def faults(request: Request) -> Response:
        return _json({"deployments": {n: s.faults.faults.model_dump(mode="json") for n, s in state.deployments.items()}})

    async def put_faults(request: Request) -> Response:
        target = deployment_of(request)
        body = await body_of(request)
        if request.method == "PATCH":
            body = {**target.faults.faults.model_dump(), **body}
        try:
            target.set_faults(Faults.model_validate(body))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            raise AdminError(400, f"invalid faults: {problems}") from None
        return _json(target.faults.faults.model_dump(mode="json"))

    async def delete_faults(request: Request) -> Response:
        target = deployment_of(request)
        target.set_faults(Faults())
        return _json(target.faults.faults.model_dump(mode="json"))

    async def outage(request: Request) -> Response:
        target = deployment_of(request)
        down = (await body_of(request)).get("down", True)
        if not isinstance(down, bool):
            raise AdminError(400, '"down" must be true or false')
        target.set_faults(target.faults.faults.model_copy(update={"outage": down}))
        return _json({"deployment": target.deployment.name, "down": down})

    async def clock(request: Request) -> Response:
        return _json({"offset_seconds": state.clock.offset, "wall": state.clock.wall()})

    async def advance(request: Request) -> Response:
        seconds = (await body_of(request)).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise AdminError(400, '"seconds" must be a non-negative number')
        state.clock.advance(float(seconds))
        return _json({"offset_seconds": state.clock.offset, "wall": state.clock.wall()})

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
        Route("/_mock/clock", guarded(clock)),
        Route("/_mock/clock/advance", guarded(advance), methods=["POST"]),
    ]
    return Starlette(routes=routes)
