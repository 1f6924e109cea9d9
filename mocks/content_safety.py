"""Azure AI Content Safety (text) under ``/contentsafety``, classified by the mock's shared lexicon.

What the gateway's ``llm-content-safety`` policy and the ``azure-ai-contentsafety`` SDK call:

- ``POST /contentsafety/text:analyze`` — severities for Hate, SelfHarm, Sexual, Violence (FourSeverityLevels
  0/2/4/6 by default, EightSeverityLevels 0..7), ``categories`` to choose which, blocklist matches for
  ``blocklistNames`` and, with ``haltOnBlocklistHit``, no category analysis once a blocklist matched;
  at most 10,000 characters (code points) of text.
- ``POST /contentsafety/text:shieldPrompt`` — Prompt Shields: a direct attack in ``userPrompt`` (jailbreak
  phrases), direct or indirect attacks in each of ``documents``.
- The text blocklist API (``/contentsafety/text/blocklists...``): create/update (PATCH), get, delete, list,
  ``:addOrUpdateBlocklistItems``, ``:removeBlocklistItems``, list and get items.

The severities come from ``content_classifier`` — the classifier that also drives Azure OpenAI's filter
on the model routes, so a text gets the same verdict on both surfaces. Requests are checked in the
service's order: route (404/405) → ``api-version`` (missing: 404, unknown: 400) → key (401, header
``Ocp-Apim-Subscription-Key``; ``api-key`` and a bearer key work too) → media type (415) → size (413) →
JSON and schema (400 ``InvalidRequestBody``). Errors use the service's body
``{"error": {"code", "message", "details": []}}``; nothing answers 500 for bad input.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable
from urllib.parse import parse_qs, unquote

import orjson

from aigw.mocks.asgi import BodyTooLarge, ClientGone, common_headers, header_value, read_body, send_bytes, send_json
from aigw.mocks.content_classifier import CATEGORIES, Classifier, classifier_for, four_levels
from aigw.mocks.content_safety_blocklists import NAME_PATTERN, BlocklistStore, make_item
from aigw.protocol import errors as openai_errors
from aigw.protocol.ids import request_id
from aigw.protocol.json_depth import message as depth_message
from aigw.protocol.json_depth import too_deep
from aigw.protocol.spec import check

log = logging.getLogger("aigw.mocks.content_safety")

PREFIX = "/contentsafety"
MAX_TEXT = 10_000
MAX_ITEMS_PER_CALL = 100
_BLOCKLIST = re.compile(r"^/text/blocklists/([^/:]+)(?::(addOrUpdateBlocklistItems|removeBlocklistItems))?$")
_ITEMS = re.compile(r"^/text/blocklists/([^/:]+)/blocklistItems(?:/([^/]+))?$")


class ServiceError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: list | None = None, details: bool = True) -> None:
        self.status, self.headers = status, headers or []
        error: dict[str, Any] = {"code": code, "message": message}
        if details:
            error["details"] = []
        self.body = {"error": error}


def invalid(message: str) -> ServiceError:
    return ServiceError(400, "InvalidRequestBody", message)


def not_found(what: str) -> ServiceError:
    return ServiceError(404, "ResourceNotFound", f"{what} is not found.")


class ContentSafetyService:
    """The ASGI app mounted at ``/contentsafety``."""

    def __init__(self, config, classifier: Classifier | None = None) -> None:
        section = config.content_safety
        self.classifier = classifier or classifier_for(section)
        self.blocklists = BlocklistStore(section.blocklists)
        self.api_versions = set(section.api_versions)
        self.region = config.region
        self.max_body = config.max_body_bytes
        self.open_auth = config.auth.mode == "open"
        self.keys = {k.encode() for k in config.auth.keys}
        self.bearers = {b"Bearer " + k for k in self.keys}

    def reset(self) -> None:
        """Blocklists back to the config: those created or changed through the API are forgotten."""
        self.blocklists.reset()

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        headers = common_headers(request_id(), self.region)
        try:
            status, payload = await self._serve(scope, receive)
        except ServiceError as error:
            return await send_json(send, error.status, error.body, headers + error.headers)
        except ClientGone:
            return
        except Exception:  # a bug of ours: the service's own 500, never a traceback
            log.exception("content safety mock failed on %s %s", scope["method"], scope["path"])
            body = {"error": {"code": "InternalError", "message": "An internal error occurred.", "details": []}}
            return await send_json(send, 500, body, headers)
        if payload is None:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            return await send({"type": "http.response.body", "body": b""})
        await send_bytes(send, status, orjson.dumps(payload), headers)

    async def _serve(self, scope: dict, receive: Callable) -> tuple[int, Any]:
        path, method = scope["path"][len(PREFIX):], scope["method"]
        handler, args = self._route(path, method)
        query = parse_qs(scope["query_string"].decode("latin-1"))
        self._check_api_version(query, scope["path"], handler)
        self._check_auth(scope)
        body = await self._json_body(scope, receive) if method in ("POST", "PATCH") else None
        return handler(body, query, *args)

    def _route(self, path: str, method: str) -> tuple[Callable, tuple]:
        if path == "/text:analyze":
            table, args = {"POST": self.analyze}, ()
        elif path == "/text:shieldPrompt":
            table, args = {"POST": self.shield_prompt}, ()
        elif path == "/text/blocklists":
            table, args = {"GET": self.list_blocklists}, ()
        elif match := _BLOCKLIST.match(path):
            name, action = unquote(match.group(1)), match.group(2)
            if action == "addOrUpdateBlocklistItems":
                table = {"POST": self.add_items}
            elif action == "removeBlocklistItems":
                table = {"POST": self.remove_items}
            else:
                table = {"GET": self.get_blocklist, "PATCH": self.upsert_blocklist, "DELETE": self.delete_blocklist}
            args = (name,)
        elif match := _ITEMS.match(path):
            name, item = unquote(match.group(1)), match.group(2)
            table = {"GET": self.get_item} if item else {"GET": self.list_items}
            args = (name, unquote(item)) if item else (name,)
        else:
            raise ServiceError(404, "404", "Resource not found", details=False)
        if method not in table:
            raise ServiceError(405, "MethodNotAllowed", f"The {method} method is not supported for {PREFIX}{path}.",
                               [(b"allow", ", ".join(table).encode())])
        return table[method], args

    def _check_api_version(self, query: dict[str, list[str]], path: str, handler: Callable) -> None:
        versions = query.get("api-version")
        if not versions:
            raise ServiceError(404, "404", "Resource not found", details=False)
        version = versions[0]
        if version not in self.api_versions:
            raise ServiceError(400, "UnsupportedApiVersion", f"The HTTP resource that matches the request URI "
                               f"'{path}' does not support the API version '{version}'.")
        if handler == self.shield_prompt and version < "2024-02-15-preview":
            raise ServiceError(404, "404", "Resource not found", details=False)  # Prompt Shields came later

    def _check_auth(self, scope: dict) -> None:
        if self.open_auth:
            return
        for name in (b"ocp-apim-subscription-key", b"api-key"):
            if header_value(scope, name) in self.keys:
                return
        if header_value(scope, b"authorization") in self.bearers:
            return
        raise ServiceError(401, "401", openai_errors.AZURE_ACCESS_DENIED, details=False)

    async def _json_body(self, scope: dict, receive: Callable) -> Any:
        content_type = header_value(scope, b"content-type") or b""
        media = content_type.split(b";", 1)[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            shown = content_type.decode("latin-1") or "none"
            raise ServiceError(415, "UnsupportedMediaType", f"Content type '{shown}' is not supported; send application/json.")
        declared = header_value(scope, b"content-length")
        try:
            raw = await read_body(receive, self.max_body, int(declared) if declared and declared.isdigit() else None)
        except BodyTooLarge:
            raise ServiceError(413, "RequestEntityTooLarge", f"The request body is larger than {self.max_body} bytes.") from None
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise invalid(f"The request body is not valid JSON: {exc}.") from None
        deep = too_deep(body)
        if deep is not None:
            raise invalid(depth_message(deep))
        if not isinstance(body, dict):
            raise invalid(f"The request body must be a JSON object, not {type(body).__name__}.")
        return body

    # --- text analysis ----------------------------------------------------------------------------

    def analyze(self, body: dict[str, Any], query, *_) -> tuple[int, Any]:
        text = body.get("text")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise invalid(f"The text is {len(text)} characters long; at most {MAX_TEXT} characters (Unicode code points) "
                          "can be analyzed in one request. Split it and analyze the parts.")
        _validate("contentsafety-analyze-text-request", body)
        names = list(dict.fromkeys(body.get("blocklistNames") or []))
        missing = [n for n in names if self.blocklists.get(n) is None]
        if missing:
            raise not_found(f"Blocklist '{missing[0]}'")
        matches = self.blocklists.matches(names, text)
        result: dict[str, Any] = {"blocklistsMatch": matches, "categoriesAnalysis": []}
        if matches and body.get("haltOnBlocklistHit"):
            return 200, result
        severities = self.classifier.severities(text)
        eight = body.get("outputType") == "EightSeverityLevels"
        wanted = set(body.get("categories") or CATEGORIES)
        result["categoriesAnalysis"] = [
            {"category": c, "severity": severities[c] if eight else four_levels(severities[c])} for c in CATEGORIES if c in wanted
        ]
        return 200, result

    def shield_prompt(self, body: dict[str, Any], query, *_) -> tuple[int, Any]:
        _validate("contentsafety-shield-prompt-request", body)
        prompt, documents = body.get("userPrompt") or "", body.get("documents") or []
        total = len(prompt) + sum(len(d) for d in documents)
        if total > MAX_TEXT:
            raise invalid(f"The user prompt and documents are {total} characters long together; at most {MAX_TEXT} "
                          "characters can be analyzed in one request.")
        return 200, {
            "userPromptAnalysis": {"attackDetected": self.classifier.jailbreak(prompt)},
            "documentsAnalysis": [{"attackDetected": self.classifier.document_attack(d)} for d in documents],
        }

    # --- blocklist management ---------------------------------------------------------------------

    def _existing(self, name: str):
        blocklist = self.blocklists.get(name)
        if blocklist is None:
            raise not_found(f"Blocklist '{name}'")
        return blocklist

    def list_blocklists(self, body, query, *_) -> tuple[int, Any]:
        return 200, {"value": [b.as_json() for b in self.blocklists.lists.values()]}

    def get_blocklist(self, body, query, name: str) -> tuple[int, Any]:
        return 200, self._existing(name).as_json()

    def upsert_blocklist(self, body: dict[str, Any], query, name: str) -> tuple[int, Any]:
        _check_name(name)
        _validate("contentsafety-blocklist-request", body)
        if body.get("blocklistName", name) != name:
            raise invalid(f"blocklistName '{body['blocklistName']}' in the body differs from '{name}' in the URL.")
        blocklist, created = self.blocklists.upsert(name, body.get("description"))
        return (201 if created else 200), blocklist.as_json()

    def delete_blocklist(self, body, query, name: str) -> tuple[int, Any]:
        _check_name(name)  # 204 whether or not it existed, but never for a name no blocklist can have
        self.blocklists.delete(name)
        return 204, None

    def add_items(self, body: dict[str, Any], query, name: str) -> tuple[int, Any]:
        _validate("contentsafety-blocklist-items-request", body)
        blocklist = self._existing(name)
        entries = body["blocklistItems"]
        if len(entries) > MAX_ITEMS_PER_CALL:
            raise invalid(f"{len(entries)} blocklistItems were sent; at most {MAX_ITEMS_PER_CALL} can be added in one request.")
        added = []
        for index, entry in enumerate(entries):
            try:
                item = make_item(name, entry["text"], entry.get("description"), bool(entry.get("isRegex")))
            except re.error as exc:
                raise invalid(f"blocklistItems[{index}].text is not a valid regular expression: {exc}.") from None
            blocklist.items[item.id] = item
            added.append(item.as_json())
        return 200, {"blocklistItems": added}

    def remove_items(self, body: dict[str, Any], query, name: str) -> tuple[int, Any]:
        _validate("contentsafety-blocklist-items-removal-request", body)
        blocklist = self._existing(name)
        for item_id in body["blocklistItemIds"]:
            blocklist.items.pop(item_id, None)
        return 204, None

    def list_items(self, body, query, name: str) -> tuple[int, Any]:
        items = [i.as_json() for i in self._existing(name).items.values()]
        skip, top = _int_param(query, "skip", 0), _int_param(query, "top", None)
        items = items[skip:] if top is None else items[skip : skip + top]
        return 200, {"value": items}

    def get_item(self, body, query, name: str, item_id: str) -> tuple[int, Any]:
        item = self._existing(name).items.get(item_id)
        if item is None:
            raise not_found(f"BlocklistItem '{item_id}' in blocklist '{name}'")
        return 200, item.as_json()


def _check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise ServiceError(400, "InvalidResourceName", f"The blocklist name '{name}' is invalid: use 1 to 64 letters, "
                           "digits, '.', '_', '~' or '-'.")


def _validate(schema: str, body: dict[str, Any]) -> None:
    issues = check(schema, body)
    if issues:
        raise invalid(issues[0].message)


def _int_param(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    if not values:
        return default
    if not values[0].isdigit():
        raise ServiceError(400, "InvalidRequest", f"The query parameter '{name}' must be a non-negative integer, got '{values[0]}'.")
    return int(values[0])


def build(config) -> ContentSafetyService:
    return ContentSafetyService(config)
