"""``llm-content-safety`` (alias ``azure-openai-content-safety``): Azure AI Content Safety on prompts.

APIM's policy sends the text of a chat/completions request to the Content Safety backend named by
``backend-id`` before the model sees it, and answers **403** when a ``<category name threshold/>`` is met
(severity ≥ threshold; ``output-type`` FourSeverityLevels (0/2/4/6, the default) or EightSeverityLevels
(0..7)), a listed ``<blocklists><id>`` matches, or — with ``shield-prompt="true"`` — Prompt Shields
detects an attack. YAML::

    - llm-content-safety:
        backend-id: content-safety
        shield-prompt: true
        categories:
          output-type: EightSeverityLevels
          category: [{name: Hate, threshold: 4}, {name: Violence, threshold: 4}]
        blocklists: [banned-terms]          # or {id: [banned-terms]}
        fail-open: false                    # ours; see below
        timeout: 10                         # ours; seconds per Content Safety call

Where we differ from APIM, and why:

- Text over the service's 10,000-character limit is analyzed in chunks (cut at whitespace, overlapping
  by ``OVERLAP`` characters so a blocklist term on a cut is still seen) instead of APIM's 403.
- Prompt Shields gets the ``user`` messages as ``userPrompt`` and ``tool``/``function`` results as
  ``documents`` (where indirect attacks arrive); categories and blocklists see all text, every role.
- ``fail-open``: APIM answers 500 when the Content Safety call fails; so do we by default (closed).
  ``fail-open: true`` lets the request through instead (logged, counted as ``failed-open``).
- In the outbound section the policy checks a buffered completion's text (categories and blocklists);
  streamed answers pass unchecked there. Embeddings, MCP and A2A traffic is not checked.
- Category names and thresholds are fixed values (APIM also allows expressions there); ``backend-id``
  may be an expression.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aigw.gateway.context import Context
from aigw.gateway.errors import GatewayError, UpstreamError
from aigw.gateway.expressions import compile_expression
from aigw.gateway.policies.base import INBOUND, OUTBOUND, Policy, PolicyConfig

log = logging.getLogger("aigw.gateway")
MAX_TEXT = 10_000  # code points per call, the service's limit
OVERLAP = 200
MAX_PARALLEL_CALLS = 8
CHECKED_OPERATIONS = ("chat", "completions")


class Category(PolicyConfig):
    name: Literal["Hate", "SelfHarm", "Sexual", "Violence"]
    threshold: int = Field(ge=0, le=7)


class Categories(PolicyConfig):
    output_type: Literal["FourSeverityLevels", "EightSeverityLevels"] = "FourSeverityLevels"
    category: list[Category] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _list_shorthand(cls, value: Any) -> Any:
        return {"category": value} if isinstance(value, list) else value

    @field_validator("category")
    @classmethod
    def _unique(cls, value: list[Category]) -> list[Category]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"each category may appear once; got {', '.join(names)}")
        return value


class CheckFailed(Exception):
    """The Content Safety service could not give a verdict."""


class Verdict:
    def __init__(self) -> None:
        self.categories: dict[str, tuple[int, int]] = {}  # name → (severity, threshold)
        self.blocklists: list[str] = []
        self.attacks: list[str] = []

    @property
    def blocked(self) -> bool:
        return bool(self.categories or self.blocklists or self.attacks)

    def describe(self) -> str:
        reasons = [f"category {name} at severity {severity} (threshold {threshold})"
                   for name, (severity, threshold) in sorted(self.categories.items())]
        reasons += [f"blocklist '{name}' matched" for name in self.blocklists]
        reasons += [f"prompt attack detected in the {where}" for where in self.attacks]
        return "; ".join(reasons)

    def as_json(self) -> dict[str, Any]:
        return {"categories": [{"category": n, "severity": s, "threshold": t} for n, (s, t) in sorted(self.categories.items())],
                "blocklists": self.blocklists, "attacks": self.attacks}


class ContentSafety(Policy):
    name = "llm-content-safety"
    sections = frozenset({INBOUND, OUTBOUND})

    class Config(PolicyConfig):
        backend_id: str = Field(min_length=1)
        shield_prompt: bool = False
        categories: Categories | None = None
        blocklists: list[str] = Field(default_factory=list)
        fail_open: bool = False
        timeout: float = Field(10.0, gt=0, description="seconds per Content Safety call")
        api_version: str = "2024-09-01"

        @field_validator("blocklists", mode="before")
        @classmethod
        def _id_elements(cls, value: Any) -> Any:
            if isinstance(value, dict) and set(value) == {"id"}:  # the XML shape <blocklists><id>…</id></blocklists>
                value = value["id"]
            return [value] if isinstance(value, str) else value

        @model_validator(mode="after")
        def _something_to_check(self):
            if not (self.shield_prompt or self.categories or self.blocklists):
                raise ValueError("nothing to check: set shield-prompt, categories or blocklists")
            return self

    def __init__(self, config, services) -> None:
        super().__init__(config, services)
        self.backend_of = compile_expression(config.backend_id)
        if not config.backend_id.strip().startswith("@("):
            _check_backend(services, config.backend_id)
        categories = config.categories
        self.thresholds = {c.name: c.threshold for c in categories.category} if categories else {}
        self.output_type = categories.output_type if categories else "FourSeverityLevels"

    async def inbound(self, ctx: Context) -> None:
        if ctx.operation not in CHECKED_OPERATIONS:
            return
        user, documents, everything = prompt_text(ctx.request.json())
        calls = [("/text:analyze", self._analyze_payload(chunk)) for chunk in split_text(everything)]
        if self.config.shield_prompt:
            calls += [("/text:shieldPrompt", payload) for payload in shield_payloads(user, documents)]
        await self._enforce(ctx, calls, "Request")

    async def outbound(self, ctx: Context) -> None:
        response = ctx.response
        if ctx.operation not in CHECKED_OPERATIONS or response is None or response.body is None or response.status != 200:
            return
        if not (self.thresholds or self.config.blocklists):
            return
        text = completion_text(response.json())
        await self._enforce(ctx, [("/text:analyze", self._analyze_payload(c)) for c in split_text(text)], "Response")

    async def _enforce(self, ctx: Context, calls: list[tuple[str, dict]], what: str) -> None:
        if not calls:
            return
        verdict = Verdict()
        limit = asyncio.Semaphore(MAX_PARALLEL_CALLS)  # per request: a huge prompt must not flood the service
        try:
            results = await asyncio.gather(*(self._call(ctx, path, payload, limit) for path, payload in calls))
        except CheckFailed as failure:
            if self.config.fail_open:
                log.warning("content safety check failed, letting the request through (fail-open): %s", failure)
                return self._count("failed-open", ctx)
            self._count("error", ctx)
            raise GatewayError(500, f"The content safety check could not be completed: {failure}",
                               reason="content-safety-unavailable") from None
        for (path, payload), result in zip(calls, results):
            self._judge(path, payload, result, verdict)
        if verdict.blocked:
            self._count("blocked", ctx)
            message = f"{what} blocked by content safety: {verdict.describe()}."
            raise GatewayError(403, message, reason="content-safety",
                               body={"statusCode": 403, "message": message, "contentSafety": verdict.as_json()})
        self._count("allowed", ctx)

    def _analyze_payload(self, text: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": text, "outputType": self.output_type}
        if self.thresholds:
            payload["categories"] = list(self.thresholds)
        if self.config.blocklists:
            payload["blocklistNames"] = list(self.config.blocklists)
            payload["haltOnBlocklistHit"] = True
        return payload

    def _judge(self, path: str, payload: dict, result: dict, verdict: Verdict) -> None:
        if path == "/text:shieldPrompt":
            user = result.get("userPromptAnalysis") or {}
            if user.get("attackDetected") and "user prompt" not in verdict.attacks:
                verdict.attacks.append("user prompt")
            if any((d or {}).get("attackDetected") for d in result.get("documentsAnalysis") or ()) and \
                    "tool/function messages" not in verdict.attacks:
                verdict.attacks.append("tool/function messages")
            return
        for match in result.get("blocklistsMatch") or ():
            name = match.get("blocklistName") if isinstance(match, dict) else None
            if name and name not in verdict.blocklists:
                verdict.blocklists.append(name)
        for analysis in result.get("categoriesAnalysis") or ():
            name, severity = analysis.get("category"), analysis.get("severity")
            threshold = self.thresholds.get(name)
            if threshold is not None and isinstance(severity, int) and severity >= threshold:
                previous = verdict.categories.get(name, (-1, threshold))[0]
                verdict.categories[name] = (max(previous, severity), threshold)

    async def _call(self, ctx: Context, path: str, payload: dict, limit: asyncio.Semaphore) -> dict:
        services = self.services
        backend_id = self.backend_of(ctx)
        if backend_id not in services.backends.singles and backend_id not in services.backends.pools:
            raise CheckFailed(f"unknown content safety backend {backend_id!r}")
        backend = services.backends.choose(backend_id)
        if backend is None:
            raise CheckFailed(f"backend {backend_id!r} is unavailable (circuit breaker open)")
        config = backend.config
        headers = {config.auth.header: config.auth.value} if config.auth else {}
        url = f"{config.url}{path}?api-version={self.config.api_version}"
        async with limit:
            try:
                status, body = await services.forwarder.call_json("POST", url, payload, headers,
                                                                  min(self.config.timeout, config.timeout), backend.id)
            except UpstreamError as error:
                services.backends.record(backend, None, error.reason, None)
                raise CheckFailed(error.detail) from None
        services.backends.record(backend, status, None, None)
        if status != 200 or not isinstance(body, dict):
            raise CheckFailed(f"{backend.id} answered {status}: {_service_message(body)}")
        return body

    def _count(self, result: str, ctx: Context) -> None:
        if self.services.metrics is not None:
            self.services.metrics.content_safety(result, ctx.api.id)


class ContentSafetyAzureOpenAI(ContentSafety):
    name = "azure-openai-content-safety"


def _check_backend(services, backend_id: str) -> None:
    if backend_id not in services.backends.singles and backend_id not in services.backends.pools:
        known = ", ".join(sorted({*services.backends.singles, *services.backends.pools}))
        raise ValueError(f"llm-content-safety: backend-id {backend_id!r} is not a configured backend; have: {known}")


def _service_message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return f"{error.get('code', '')} {error['message']}".strip()
    return "no usable answer"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def prompt_text(body: Any) -> tuple[str, list[str], str]:
    """(user text, tool/function results, all text) of a chat or completions request body."""
    if not isinstance(body, dict):
        return "", [], ""
    messages = body.get("messages")
    if isinstance(messages, list):
        user, documents, everything = [], [], []
        for message in messages:
            if not isinstance(message, dict):
                continue
            text = _text_of(message.get("content"))
            if not text:
                continue
            everything.append(text)
            if message.get("role") == "user":
                user.append(text)
            elif message.get("role") in ("tool", "function"):
                documents.append(text)
        return "\n".join(user), documents, "\n".join(everything)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(p for p in prompt if isinstance(p, str))
    prompt = prompt if isinstance(prompt, str) else ""
    return prompt, [], prompt


def completion_text(body: Any) -> str:
    """The generated text of a buffered chat/completions answer."""
    if not isinstance(body, dict):
        return ""
    texts = []
    for choice in body.get("choices") or ():
        if isinstance(choice, dict):
            message = choice.get("message")
            texts.append(_text_of(message.get("content")) if isinstance(message, dict) else _text_of(choice.get("text")))
    return "\n".join(t for t in texts if t)


def split_text(text: str, limit: int = MAX_TEXT, overlap: int = OVERLAP) -> list[str]:
    """Chunks of at most ``limit`` code points covering ``text``; cuts fall on whitespace where there is
    some, and each chunk repeats the last ``overlap`` characters of the one before."""
    if not text.strip():
        return []
    chunks, start = [], 0
    while True:
        if len(text) - start <= limit:
            chunks.append(text[start:])
            return chunks
        end = start + limit
        cut = max(text.rfind(" ", start + overlap + 1, end), text.rfind("\n", start + overlap + 1, end))
        end = cut if cut > start + overlap else end
        chunks.append(text[start:end])
        start = end - overlap


def shield_payloads(user: str, documents: list[str], limit: int = MAX_TEXT) -> list[dict[str, Any]]:
    """Prompt Shields requests covering the user text and documents, each within the size limit."""
    pieces = [d for document in documents for d in split_text(document, limit)]
    payloads = []
    for index, chunk in enumerate(split_text(user, limit) or ([""] if pieces else [])):
        payload: dict[str, Any] = {"userPrompt": chunk, "documents": []}
        if index == 0:
            size = len(chunk)
            while pieces and size + len(pieces[0]) <= limit:
                size += len(pieces[0])
                payload["documents"].append(pieces.pop(0))
        payloads.append(payload)
    while pieces:
        payload, size = {"userPrompt": "", "documents": []}, 0
        while pieces and size + len(pieces[0]) <= limit:
            size += len(pieces[0])
            payload["documents"].append(pieces.pop(0))
        payloads.append(payload)
    return payloads
