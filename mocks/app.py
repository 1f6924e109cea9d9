"""The mock backend as an ASGI application.

Request flow (each step answers exactly as Azure OpenAI does when it refuses):
route (404/405) → api-version (404/400) → auth (401) → content type (415) → body size (413) →
JSON (400) → schema (400, ``param`` names the field) → deployment (404) → operation supported (400) →
injected faults → rate limits (429 + retry-after, retry-after-ms) → content filter (400) → answer.
Anything unexpected becomes a 500 with the OpenAI body — never a traceback on the wire.
The admin API lives under ``/_mock/`` (see ``admin``).
"""

import logging
import random
from typing import Any, Callable
from urllib.parse import parse_qs

import orjson

from aigw.mocks import admin, operations, routing
from aigw.mocks.asgi import (
    BodyTooLarge,
    ClientGone,
    abort_connection,
    common_headers,
    header_value,
    read_body,
    send_bytes,
    send_json,
    sleep_unless_disconnected,
)
from aigw.mocks.config import MockConfig
from aigw.mocks.content_filter import ContentFilter
from aigw.mocks.mounts import build_mounts, find_mount
from aigw.mocks.faults import NO_FAULT, FaultPlan
from aigw.mocks.answers import Answer, AnswerCache, make_answer
from aigw.mocks.generation import UnusableSchema, seed_of
from aigw.mocks.state import DeploymentState, MockState
from aigw.mocks.streaming import stream_events
from aigw.protocol import errors
from aigw.protocol.lifespan import preload_tokenizers, serve_lifespan
from aigw.protocol.ids import request_id
from aigw.protocol.json_depth import message as depth_message
from aigw.protocol.json_depth import too_deep
from aigw.protocol.spec import check

log = logging.getLogger("aigw.mocks")

SCHEMAS = {"chat": "chat-completion-request", "completions": "completion-request", "embeddings": "embedding-request"}
# Arguments only Azure's contract declares (2024-10-21): OpenAI's own contract forbids them, so on /v1 they
# are as unknown as OpenAI makes them.
AZURE_ONLY = {"embeddings": ("input_type",)}
OPERATION_NAMES = {"chat": "ChatCompletions_Create", "completions": "Completions_Create", "embeddings": "Embeddings_Create"}
HANG_SECONDS = 3600.0


class Refusal(Exception):
    """An error answer decided somewhere in the pipeline."""

    def __init__(self, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or []


class MockApp:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.state = MockState(config)
        self.admin = admin.build(self.state)
        self.answers = AnswerCache()
        self.content_filter = ContentFilter(config.content_safety)  # shared with /contentsafety's classifier
        self.mounts = build_mounts(config, self.state)
        self._mount_prefixes = tuple(prefix for prefix, _ in self.mounts)  # one C-level test rules most paths out
        self._open_auth = config.auth.mode == "open"
        self._keys = {k.encode() for k in config.auth.keys}
        self._bearers = {b"Bearer " + k.encode() for k in config.auth.keys}
        self.server_limits = config.server_limits()  # read by the uvicorn config builders

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            self.state.requests.record(scope)
            mounted = find_mount(self.mounts, scope["path"]) if scope["path"].startswith(self._mount_prefixes) else None
            if mounted is not None:
                await mounted(scope, receive, send)
            elif scope["path"].startswith("/_mock"):
                await self.admin(scope, receive, send)
            else:
                await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await serve_lifespan(receive, send, preload_tokenizers)

    async def handle(self, scope: dict, receive: Callable, send: Callable) -> None:
        rid = request_id()
        extra = common_headers(rid, self.config.region)
        try:
            await self._serve(scope, receive, send, extra)
        except Refusal as refusal:
            await send_json(send, refusal.status, refusal.body, extra + refusal.headers)
        except ClientGone:
            return
        except Exception:  # a bug of ours: say so in the API's own words, never a traceback
            log.exception("mock failed on %s %s", scope["method"], scope["path"])
            await send_json(send, 500, errors.server_error(), extra)

    async def _serve(self, scope: dict, receive: Callable, send: Callable, extra: list) -> None:
        route = routing.match(scope["path"])
        if route is None:
            raise Refusal(404, errors.azure_status_error(404, "Resource not found"))
        if scope["method"] not in route.methods:
            allow = ", ".join(route.methods).encode()
            raise Refusal(405, errors.error_body(f"Method {scope['method']} is not allowed on {scope['path']}; use {allow.decode()}.",
                                                 code="405", type=errors.INVALID_REQUEST), [(b"allow", allow)])
        if route.style == routing.AZURE:
            self._check_api_version(scope)
        self._check_auth(scope, route.style)
        if route.operation in ("models", "model"):
            return await self._models(route, send, extra)
        raw = await self._read_raw(scope, receive)
        key = (route.operation, route.style, route.deployment, raw)
        answer = self.answers.get(key)
        if answer is None:
            answer = self._new_answer(route, raw)
            self.answers.put(key, answer)
        await self._answer(answer, scope, receive, send, extra)

    def _new_answer(self, route: routing.Route, raw: bytes) -> Answer:
        """Parse, validate and route a body seen for the first time (see ``answers``)."""
        body = _parse_json(raw)
        operation = route.operation
        issues = check(SCHEMAS[operation], body)
        if issues:
            first = issues[0]
            raise Refusal(400, errors.invalid_request(first.message, first.param, first.code))
        if route.style == routing.OPENAI:
            for name in AZURE_ONLY.get(operation, ()):
                if name in body:
                    raise Refusal(400, errors.invalid_request(f"Unrecognized request argument supplied: {name}", name,
                                                              "unknown_parameter"))
        deployment = self._deployment(route, body).deployment
        if operation not in deployment.operations:
            raise Refusal(400, errors.error_body(
                f"The {operation} operation does not work with the specified model, {deployment.model}. Please choose "
                "different model and try again. You can learn more about which models can be used with each operation "
                "here: https://go.microsoft.com/fwlink/?linkid=2197993.", code="OperationNotSupported"))
        problem = operations.request_problem(operation, body, deployment)
        if problem:
            raise Refusal(400, problem)
        try:
            return make_answer(operation, body, deployment, route.style != routing.OPENAI, self.config.seed,
                               self.config.default_max_tokens_estimate, self.content_filter)
        except UnusableSchema as exc:
            raise Refusal(400, errors.invalid_request(str(exc), exc.param, "invalid_schema")) from None

    def _check_api_version(self, scope: dict) -> None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        versions = query.get("api-version")
        if not versions:
            raise Refusal(404, errors.azure_status_error(404, "Resource not found"))
        if versions[0] not in self.config.api_versions:
            raise Refusal(400, errors.error_body(f"API version not supported: {versions[0]}", code="BadRequest", param="api-version"))

    def _check_auth(self, scope: dict, style: str) -> None:
        if self._open_auth:
            return
        key = header_value(scope, b"api-key")
        if key is not None and key in self._keys:
            return
        bearer = header_value(scope, b"authorization")
        if bearer is not None and bearer in self._bearers:
            return
        if style == routing.OPENAI:
            body = errors.error_body("Incorrect API key provided.", code="invalid_api_key", type=errors.INVALID_REQUEST)
        else:
            body = errors.azure_status_error(401, errors.AZURE_ACCESS_DENIED)
        raise Refusal(401, body, [(b"www-authenticate", b'Bearer realm="aigw-mock"')])

    async def _read_raw(self, scope: dict, receive: Callable) -> bytes:
        content_type = header_value(scope, b"content-type") or b""
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            shown = content_type.decode("latin-1") or "none"
            raise Refusal(415, errors.error_body(f"Unsupported Media Type: '{shown}'. Send the body as application/json.",
                                                 code="415", type=errors.INVALID_REQUEST))
        declared = header_value(scope, b"content-length")
        try:
            return await read_body(receive, self.config.max_body_bytes, int(declared) if declared else None)
        except BodyTooLarge:
            raise Refusal(413, errors.error_body(f"Request body too large: the limit is {self.config.max_body_bytes} bytes.",
                                                 code="413", type=errors.INVALID_REQUEST)) from None
        except ValueError:
            raise Refusal(400, errors.invalid_request("Invalid Content-Length header.")) from None

    def _deployment(self, route: routing.Route, body: dict[str, Any]) -> DeploymentState:
        if route.style == routing.OPENAI:
            name = body.get("model")
            if not name:
                raise Refusal(400, errors.invalid_request("you must provide a model parameter", param="model", code="missing_required_parameter"))
            state = self.state.find(name, by_model=True)
            if state is None:
                raise Refusal(404, errors.error_body(f"The model `{name}` does not exist or you do not have access to it.",
                                                     code="model_not_found", type=errors.INVALID_REQUEST))
            return state
        state = self.state.find(route.deployment, by_model=False)
        if state is None:
            raise Refusal(404, errors.error_body(
                "The API deployment for this resource does not exist. If you created the deployment within the last "
                "5 minutes, please wait a moment and try again.", code="DeploymentNotFound"))
        return state

    async def _answer(self, answer: Answer, scope, receive, send, extra) -> None:
        """The per-request part: counters, faults, rate limits, filter verdict, timing and sending."""
        deployment = answer.deployment
        state = self.state.deployments[deployment.name]
        counters = state.counters
        extra[2] = state.region_header  # common_headers: [apim id, request id, region]
        counters.requests += 1
        plan = state.faults.plan()
        if plan is not NO_FAULT:
            counters.faults[plan.label] += 1
            await self._apply_faults(plan, state, receive, send)
        decision = state.limiter.admit(answer.prepared.estimate, self.state.clock.monotonic())
        if not decision.admitted:
            counters.rate_limited += 1
            counters.errors[429] += 1
            message = errors.rate_limited(OPERATION_NAMES[answer.operation], _api_version(scope), int(decision.retry_after_header), decision.kind)
            raise Refusal(429, message, [
                (b"retry-after", decision.retry_after_header.encode()),
                (b"retry-after-ms", decision.retry_after_ms_header.encode()),
                (b"x-ratelimit-remaining-requests", str(decision.remaining_requests).encode()),
                (b"x-ratelimit-remaining-tokens", str(decision.remaining_tokens).encode()),
            ])
        extra += [
            (b"x-ratelimit-remaining-requests", str(decision.remaining_requests).encode()),
            (b"x-ratelimit-remaining-tokens", str(decision.remaining_tokens).encode()),
            *state.limiter.limit_headers,
        ]
        if answer.prepared.refusal is not None:
            counters.errors[400] += 1
            raise Refusal(400, answer.prepared.refusal)
        payload = answer.render(int(self.state.clock.wall()))
        counters.prompt_tokens += answer.prompt_tokens
        counters.completion_tokens += answer.completion_tokens
        profile = state.profile
        timing = random.Random(seed_of(answer.digest) ^ 0x7111) if profile is not None else None
        if answer.stream:
            counters.succeeded += 1
            return await stream_events(send, receive, payload, extra, profile, timing, plan)
        if profile is not None:
            if answer.operation == "embeddings":
                total_ms = timing.uniform(profile.embeddings_ms.min, profile.embeddings_ms.max)
            else:
                total_ms = timing.uniform(profile.ttft_ms.min, profile.ttft_ms.max)
                total_ms += answer.completion_tokens * timing.uniform(profile.inter_token_ms.min, profile.inter_token_ms.max)
            await sleep_unless_disconnected(receive, total_ms / 1000)
        await self._finish_json(send, payload, plan, extra, counters)

    async def _finish_json(self, send, payload: bytes, plan: FaultPlan, extra, counters) -> None:
        if plan.malformed_body:
            payload = payload[: max(1, len(payload) // 2)]  # cut mid-document: invalid JSON with a 200
        counters.succeeded += 1
        await send_bytes(send, 200, payload, extra)

    async def _apply_faults(self, plan: FaultPlan, state: DeploymentState, receive, send) -> None:
        if plan.hang:
            await sleep_unless_disconnected(receive, HANG_SECONDS)
        if plan.added_latency_s:
            await sleep_unless_disconnected(receive, plan.added_latency_s)
        if plan.reset_before_first_byte:
            if not abort_connection(send):
                raise ConnectionResetError("injected reset before the first byte")
            raise ClientGone
        if plan.status is not None:
            state.counters.errors[plan.status] += 1
            raise _injected_error(plan.status, state)

    async def _models(self, route: routing.Route, send, extra) -> None:
        created = 1_700_000_000
        deployments = self.config.deployments
        if route.operation == "model":
            found = self.state.find(route.deployment, by_model=True)
            if found is None:
                raise Refusal(404, errors.error_body(f"The model '{route.deployment}' does not exist", code="model_not_found",
                                                     type=errors.INVALID_REQUEST, param="model"))
            return await send_json(send, 200, operations.model_entry(found.deployment, created), extra)
        await send_json(send, 200, operations.models(deployments, created), extra)


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Refusal(400, errors.invalid_request(
            f"We could not parse the JSON body of your request. ({exc}) The OpenAI API expects a JSON payload.")) from None
    if not isinstance(body, dict):
        raise Refusal(400, errors.invalid_request(f"The request body must be a JSON object, not {type(body).__name__}."))
    deep = too_deep(body)  # hashing and answering re-serialise the body: orjson stops at 254 levels
    if deep is not None:
        raise Refusal(400, errors.invalid_request(depth_message(deep), param=deep))
    return body


def _injected_error(status: int, state: DeploymentState) -> Refusal:
    if status == 429:
        body = errors.rate_limited("ChatCompletions_Create", "2024-10-21", 1)
        return Refusal(429, body, [(b"retry-after", b"1"), (b"retry-after-ms", b"1000")])
    if status == 503:
        message = "The service is temporarily unable to process your request. Please try again later."
        return Refusal(503, errors.error_body(message, code="503", type=errors.SERVER_ERROR))
    return Refusal(500, errors.server_error())


def _api_version(scope: dict) -> str:
    query = parse_qs(scope["query_string"].decode("latin-1"))
    return (query.get("api-version") or ["2024-10-21"])[0]


def create_app(config: MockConfig | None = None) -> MockApp:
    from aigw.mocks.config import default_config

    return MockApp(config or default_config())

