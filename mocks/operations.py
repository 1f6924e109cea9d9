"""The three model operations and the model listing, from a validated body to a response plan.

Each function returns ``(status, payload)`` for JSON answers or a list of SSE events for streams;
the ASGI layer (``app``) decides timing and framing.
"""

from dataclasses import dataclass
from typing import Any

import functools
import zlib

import orjson

from aigw.mocks import content_filter, embedder, generation, model_limits, render
from aigw.mocks.config import Deployment
from aigw.protocol import errors, ids
from aigw.protocol.spec import json_schema_fault
from aigw.protocol.tokens import (
    count_chat_prompt,
    count_embedding_input,
    count_prompt,
    encoding_for_model,
    estimate_tokens_from_chars,
)


@dataclass
class Prepared:
    """What admission needs before any work is done: the charge estimate and a filter verdict."""

    estimate: int
    prompt_text: str
    refusal: dict[str, Any] | None = None  # a 400 content_filter body when the prompt is blocked
    prompt_filter: dict[str, Any] | None = None
    screen: content_filter.ContentFilter | None = None  # judges the completions (see content_filter)
    completion_trigger: dict[str, int] | None = None


def prepare(operation: str, body: dict[str, Any], default_max_tokens: int, azure: bool,
            screen: content_filter.ContentFilter | None = None) -> Prepared:
    """Azure's admission estimate: character-based prompt tokens plus the completion allowance."""
    if operation == "chat":
        text = content_filter.prompt_text_of_messages(body["messages"])
        allowance = generation.completion_cap(body) or default_max_tokens
        estimate = estimate_tokens_from_chars(text) + allowance * (body.get("n") or 1)
    elif operation == "completions":
        text = _prompt_text(body["prompt"])
        allowance = generation.legacy_max_tokens(body)
        estimate = estimate_tokens_from_chars(text) + allowance * max(body.get("n") or 1, body.get("best_of") or 1)
    else:
        text = _prompt_text(body["input"])
        estimate = estimate_tokens_from_chars(text)
    prepared = Prepared(estimate, text)
    if operation != "embeddings":
        screen = screen or content_filter.default_filter()
        verdict = screen.prompt(text, with_jailbreak=operation == "chat")
        prepared.prompt_filter, prepared.screen, prepared.completion_trigger = verdict.results, screen, verdict.trigger
        if verdict.blocked:
            prepared.refusal = errors.content_filtered(verdict.results)
    return prepared


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and all(isinstance(p, str) for p in prompt):
        return "\n".join(prompt)
    # Token arrays: roughly four characters a token for the estimate.
    count = sum(len(p) if isinstance(p, list) else 1 for p in prompt) if isinstance(prompt, list) else 0
    return "x" * (4 * count)


def _meta(kind: str, deployment: Deployment, digest: bytes, created: int, azure: bool, prepared: Prepared, body: dict[str, Any],
          planned: "Planned") -> render.Meta:
    rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + ids.token_from_bytes(digest)
    top = (body.get("logprobs") or 0) if kind == "completions" else (body.get("top_logprobs") or 0)
    model, fingerprint = _names(deployment.name, deployment.model, deployment.model_version)
    return render.Meta(rid, created, model, fingerprint, azure, prepared.prompt_filter, top, generation.seed_of(digest),
                       planned.choice_filters)


@functools.lru_cache(maxsize=256)
def _names(name: str, model: str, version: str) -> tuple[str, str]:
    """A deployment's response ``model`` and its ``system_fingerprint``: stable per deployment and model
    version, as a real backend configuration's is."""
    shown = f"{model}-{version}" if len(version) == 10 and version[4] == "-" and version[7] == "-" else model
    return shown, ids.system_fingerprint(zlib.crc32(f"{name}:{version}".encode()))


@dataclass
class Planned:
    """What the model says — choices, token counts — fixed once per distinct request."""

    plans: list[generation.ChoicePlan]
    prompt_tokens: int
    echoes: list[str]
    choice_filters: dict[int, dict[str, Any]] | None = None  # content_filter_results by choice index

    def screen(self, prepared: Prepared) -> None:
        """The completion filter judges (and may cut) the choices once, before any rendering."""
        if prepared.screen is not None:
            self.choice_filters = prepared.screen.screen(self.plans, prepared.completion_trigger or {})

    @property
    def completion_tokens(self) -> int:
        return sum(p.completion_tokens for p in self.plans)


def plan_chat(body: dict[str, Any], deployment: Deployment, digest: bytes) -> Planned:
    """Raises generation.UnusableSchema when a client-supplied schema cannot be answered."""
    model = deployment.model
    prompt_tokens = count_chat_prompt(body["messages"], model, body.get("tools"))
    return Planned(generation.plan_chat(body, model, generation.seed_of(digest)), prompt_tokens, [])


def plan_completions(body: dict[str, Any], deployment: Deployment, digest: bytes) -> Planned:
    model = deployment.model
    prompt = body["prompt"]
    prompts = prompt if isinstance(prompt, list) and prompt and not isinstance(prompt[0], int) else [prompt]
    n = body.get("n") or 1
    plans, echoes = [], []
    encoding = encoding_for_model(model)
    for p_index, single in enumerate(prompts):
        echo_text = (single if isinstance(single, str) else encoding.decode(single)) if body.get("echo") else ""
        for i in range(n):
            plans.append(generation.plan_completion(echo_text, body, model, generation.seed_of(digest), p_index * n + i))
            echoes.append(echo_text)
    return Planned(plans, count_prompt(prompt, model), echoes)


def render_chat(planned: Planned, body: dict[str, Any], deployment: Deployment, digest: bytes, created: int, azure: bool, prepared: Prepared):
    meta = _meta("chat", deployment, digest, created, azure, prepared, body, planned)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return render.chat_stream(planned.plans, meta, planned.prompt_tokens, include_usage)
    return render.chat_json(planned.plans, meta, planned.prompt_tokens)


def render_completions(planned: Planned, body: dict[str, Any], deployment: Deployment, digest: bytes, created: int, azure: bool, prepared: Prepared):
    meta = _meta("completions", deployment, digest, created, azure, prepared, body, planned)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return render.completion_stream(planned.plans, meta, planned.prompt_tokens, include_usage, planned.echoes)
    return render.completion_json(planned.plans, meta, planned.prompt_tokens, planned.echoes)


def request_problem(operation: str, body: dict[str, Any], deployment: Deployment) -> dict[str, Any] | None:
    """What the real API would refuse in a schema-valid body, as a 400 body; None when fine.

    Checked before admission so a refused request is never charged: token ids must exist in the
    model's vocabulary, ``dimensions`` must suit the model, and the request must fit the model's limits
    (``model_limits``). (Client-supplied schemas are checked by planning the answer, see
    ``generation.UnusableSchema``.)
    """
    if operation == "chat":
        for i, tool in enumerate(body.get("tools") or []):
            function = tool.get("function") or {}
            fault = json_schema_fault(function.get("parameters", {}))
            if fault:
                return errors.invalid_request(f"Invalid schema for function '{function.get('name')}': {fault}",
                                              param=f"tools[{i}].function.parameters", code="invalid_function_parameters")
        return model_limits.request_problem(operation, body, deployment)
    field = "prompt" if operation == "completions" else "input"
    vocabulary = encoding_for_model(deployment.model).n_vocab
    if any(t >= vocabulary for t in _token_ids(body.get(field))):
        return errors.invalid_request(f"Invalid token id in '{field}': ids must be below {vocabulary} for {deployment.model}.", param=field)
    if operation == "embeddings":
        problem = _dimensions_problem(body.get("dimensions"), deployment)
        if problem:
            return problem
    return model_limits.request_problem(operation, body, deployment)


def _token_ids(value: Any) -> list[int]:
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, int):
            out.append(item)
        elif isinstance(item, list):
            out.extend(t for t in item if isinstance(t, int))
    return out


def _dimensions_problem(dims: int | None, deployment: Deployment) -> dict[str, Any] | None:
    if dims is None:
        return None
    if not deployment.model.startswith("text-embedding-3"):
        return errors.invalid_request("This model does not support specifying dimensions.", param="dimensions")
    if dims > deployment.dimensions:
        return errors.invalid_request(
            f"Invalid value for 'dimensions': {dims} is above this model's {deployment.dimensions} dimensions.", param="dimensions"
        )
    return None


def embeddings(body: dict[str, Any], deployment: Deployment):
    model = deployment.model
    dims = body.get("dimensions") or deployment.dimensions
    encoding = encoding_for_model(model)
    vectors = embedder.embed_input(body["input"], dims, encoding.decode)
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": embedder.to_base64(v) if as_base64 else v}
        for i, v in enumerate(vectors)
    ]
    prompt_tokens = count_embedding_input(body["input"], model)
    payload = {"object": "list", "data": data, "model": deployment.model,
               "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}}
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), prompt_tokens


def model_entry(deployment: Deployment, created: int) -> dict[str, Any]:
    return {"id": deployment.name, "object": "model", "created": created, "owned_by": "system"}


def models(deployments: list[Deployment], created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_entry(d, created) for d in deployments]}

