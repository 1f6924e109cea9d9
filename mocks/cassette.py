"""Cassettes: recorded HTTP exchanges in a readable, versioned, append-only JSON Lines file.

One JSON object per line, so a recorder that dies mid-run loses at most the line it was writing,
and every error can name ``file:line``. A line is either a *session* (written when a recording run
starts: format name, format version, upstream and the redaction/ignore rules in force) or an
*exchange* (one request and the response the upstream gave)::

    {"type":"session","format":"aigw-cassette","version":1,"started":"2025-01-01T00:00:00Z","upstream":"http://127.0.0.1:8001","redact_fields":["user"],"ignore_fields":["seed"],"redact_headers":["api-key","authorization","ocp-apim-subscription-key"]}
    {"type":"exchange","id":1,"recorded":"2025-01-01T00:00:01Z","key":"POST /v1/chat/completions {\\"messages\\":[...],\\"model\\":\\"gpt-4o\\"}","request":{"method":"POST","path":"/v1/chat/completions","query":"","headers":{"api-key":"<redacted>","content-type":"application/json"},"json":{"model":"gpt-4o","messages":[...],"user":"<redacted>"}},"response":{"status":200,"headers":{"content-type":"application/json"},"ms":12.5,"json":{"id":"chatcmpl-...","choices":[...]}}}

A body is stored as ``json`` when re-serialising it reproduces the upstream's bytes exactly (so it
stays readable and replays byte-equal), else as ``text`` (UTF-8) or ``base64``. A streamed response
keeps its chunks as they arrived with the millisecond each arrived at (``chunks``), so a replay can
reproduce the pacing.

The *canonical request key* decides what a replay matches: method, path, the query with its
parameters sorted, and the body — JSON parsed and re-serialised with sorted keys, without the
ignored and redacted fields (a redacted value is gone, so it cannot take part in matching).
"""

import base64
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode

import orjson

from aigw.protocol.json_depth import too_deep
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aigw.mocks.config_base import Strict

FORMAT = "aigw-cassette"
VERSION = 1
REDACTED = "<redacted>"
# Headers that carry credentials for Azure OpenAI, OpenAI and API Management; always redacted.
SECRET_HEADERS = ("api-key", "authorization", "ocp-apim-subscription-key", "proxy-authorization", "cookie", "x-api-key")
# Query parameters that carry credentials (APIM accepts ``subscription-key``; SAS URLs carry ``sig``).
SECRET_QUERY = ("api-key", "subscription-key", "sig")


class CassetteError(Exception):
    """A cassette cannot be read or written; ``str()`` names the file (and line) for a person."""


@dataclass(frozen=True)
class Rules:
    """What is left out of request keys and what never reaches the file."""

    ignore_fields: tuple[str, ...] = ()
    redact_fields: tuple[str, ...] = ()
    redact_headers: tuple[str, ...] = SECRET_HEADERS

    def merged(self, other: "Rules") -> "Rules":
        return Rules(_union(self.ignore_fields, other.ignore_fields), _union(self.redact_fields, other.redact_fields),
                     _union(self.redact_headers, other.redact_headers))

    def key(self, method: str, path: str, query: str, body: Any) -> str:
        """The canonical request key; ``body`` is raw bytes or an already parsed JSON value."""
        if isinstance(body, (bytes, bytearray)):
            body = parse_json_or_raw(bytes(body))
        else:
            body = orjson.loads(orjson.dumps(body))  # a copy: fields are dropped below
        leave_out = self.ignore_fields + self.redact_fields
        if isinstance(body, bytes):
            text = body.decode("utf-8", "backslashreplace")
        else:
            for dotted in leave_out:
                _drop(body, dotted.split("."))
            text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()
        query = self.query(query, drop=leave_out)
        path = quote(path, safe="/:@!$&'()*+,;=-._~%")  # no spaces: a key splits into three parts at spaces
        target = f"{path}?{query}" if query else path
        return f"{method.upper()} {target} {text}".rstrip()

    def query(self, query: str, drop: tuple[str, ...] = ()) -> str:
        """The query string with secrets (and ``drop``) removed and parameters sorted."""
        leave_out = set(SECRET_QUERY) | set(drop)
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() not in leave_out]
        return urlencode(sorted(pairs))

    def redact_body(self, body: Any) -> Any:
        for dotted in self.redact_fields:
            _replace(body, dotted.split("."))
        return body

    def redact_headers_of(self, headers: dict[str, str]) -> dict[str, str]:
        secret = {name.lower() for name in self.redact_headers}
        return {name: REDACTED if name in secret else value for name, value in headers.items()}


@dataclass(frozen=True)
class CassetteOptions:
    """What ``aigw mock --record/--replay`` asked for; travels to worker processes as JSON."""

    record: str | None = None
    upstream: str | None = None
    replay: str | None = None
    on_miss: Literal["error", "generate"] = "error"
    ignore_fields: tuple[str, ...] = ()
    redact_fields: tuple[str, ...] = ()
    redact_headers: tuple[str, ...] = ()
    speed: float | None = 1.0  # None: no timing at all
    upstream_timeout_s: float = 300.0

    @property
    def rules(self) -> Rules:
        headers = tuple(name.lower() for name in self.redact_headers)
        return Rules(tuple(self.ignore_fields), tuple(self.redact_fields), _union(SECRET_HEADERS, headers))

    def to_json(self) -> str:
        data = {**self.__dict__}
        for name in ("record", "replay"):
            if data[name]:
                data[name] = os.path.abspath(data[name])
        return orjson.dumps(data).decode()

    @classmethod
    def from_json(cls, text: str) -> "CassetteOptions":
        data = orjson.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


# ---------------------------------------------------------------------------------------------- records


class _Body(Strict):
    """Exactly one of ``json``, ``text``, ``base64`` — or none, for an empty body."""

    json_: Any = Field(None, alias="json")
    text: str | None = None
    base64: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _one_form(self):
        given = [name for name in ("json_", "text", "base64") if name in self.model_fields_set]
        if len(given) > 1:
            raise ValueError("a body has exactly one of json, text, base64")
        if self.base64 is not None:
            try:
                base64.b64decode(self.base64, validate=True)
            except ValueError:
                raise ValueError("base64 is not valid base64") from None
        return self

    def raw(self) -> bytes:
        if "json_" in self.model_fields_set:
            return orjson.dumps(self.json_)
        if self.text is not None:
            return self.text.encode()
        if self.base64 is not None:
            return base64.b64decode(self.base64)
        return b""

    def parsed(self) -> Any:
        """The JSON value for key computation, or the raw bytes of a non-JSON body."""
        return self.json_ if "json_" in self.model_fields_set else self.raw()


class Chunk(_Body):
    ms: float = Field(ge=0)


class RecordedRequest(_Body):
    method: str = Field(min_length=1)
    path: str = Field(pattern=r"^/")
    query: str = ""
    headers: dict[str, str] = Field(default_factory=dict)


class RecordedResponse(_Body):
    status: int = Field(ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    ms: float = Field(ge=0, description="response headers (stream) or whole body (otherwise) arrived after ms")
    chunks: list[Chunk] | None = None

    @model_validator(mode="after")
    def _chunks_or_body(self):
        if self.chunks is not None and self.model_fields_set & {"json_", "text", "base64"}:
            raise ValueError("a streamed response has chunks and no json, text or base64 body")
        return self


class Exchange(Strict):
    type: Literal["exchange"]
    id: int
    recorded: str
    key: str
    request: RecordedRequest
    response: RecordedResponse


class Session(Strict):
    type: Literal["session"]
    format: Literal["aigw-cassette"]
    version: int
    started: str
    upstream: str
    redact_fields: list[str] = Field(default_factory=list)
    ignore_fields: list[str] = Field(default_factory=list)
    redact_headers: list[str] = Field(default_factory=list)

    @property
    def rules(self) -> Rules:
        return Rules(tuple(self.ignore_fields), tuple(self.redact_fields), tuple(self.redact_headers))


@dataclass
class Cassette:
    path: str
    sessions: list[Session] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rules(self) -> Rules:
        rules = Rules(redact_headers=())
        for session in self.sessions:
            rules = rules.merged(session.rules)
        return rules


def body_fields(raw: bytes) -> dict[str, Any]:
    """How a response body is stored: parsed JSON only when that reproduces the exact bytes."""
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
        if orjson.dumps(value) == raw:
            return {"json": value}
    except orjson.JSONDecodeError:
        pass
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


def chunk_fields(raw: bytes) -> dict[str, Any]:
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:  # a chunk boundary may split a multi-byte character
        return {"base64": base64.b64encode(raw).decode()}


def parse_json_or_raw(raw: bytes) -> Any:
    """The body as JSON — unless it is not JSON, or nests deeper than orjson can serialise again (a key
    is made by re-serialising it): then the raw bytes, which key the request just as well."""
    try:
        value = orjson.loads(raw) if raw else raw
    except orjson.JSONDecodeError:
        return raw
    return raw if too_deep(value) is not None else value


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def session_record(upstream: str, rules: Rules) -> dict[str, Any]:
    return {"type": "session", "format": FORMAT, "version": VERSION, "started": now_iso(), "upstream": upstream,
            "redact_fields": list(rules.redact_fields), "ignore_fields": list(rules.ignore_fields),
            "redact_headers": list(rules.redact_headers)}


# ---------------------------------------------------------------------------------------------- reading


def load(path: str | Path) -> Cassette:
    """Read and validate a whole cassette; a torn last line (recorder killed mid-write) is skipped."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such cassette file") from None
    except OSError as exc:
        raise CassetteError(f"{path}: cannot read the cassette: {exc.strerror or exc}") from None
    cassette = Cassette(str(path))
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        torn = number == len(lines)  # the last line has no newline: it may be unfinished
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            if torn and cassette.sessions:
                cassette.warnings.append(f"{path}:{number}: ignoring an unfinished last line (the recorder stopped while writing it)")
                break
            raise CassetteError(f"{path}:{number}: not valid JSON: {exc}") from None
        _add(cassette, record, path, number)
    if not cassette.sessions:
        raise CassetteError(f"{path}:1: empty cassette: expected a first line "
                            f'{{"type": "session", "format": "{FORMAT}", "version": {VERSION}, ...}}')
    return cassette


def _add(cassette: Cassette, record: Any, path: Path, number: int) -> None:
    where = f"{path}:{number}"
    if not isinstance(record, dict):
        raise CassetteError(f"{where}: each line must be a JSON object, got {type(record).__name__}")
    kind = record.get("type")
    if not cassette.sessions and kind != "session":
        raise CassetteError(f'{where}: not an aigw cassette: the first line must be {{"type": "session", '
                            f'"format": "{FORMAT}", "version": {VERSION}, ...}}')
    if kind == "session":
        if record.get("format") != FORMAT:
            raise CassetteError(f"{where}: not an aigw cassette: format is {record.get('format')!r}, expected {FORMAT!r}")
        if record.get("version") != VERSION:
            raise CassetteError(f"{where}: cassette format version {record.get('version')!r} is not supported "
                                f"(this aigw reads version {VERSION}); re-record it")
        cassette.sessions.append(_validate(Session, record, where))
    elif kind == "exchange":
        cassette.exchanges.append(_validate(Exchange, record, where))
    else:
        raise CassetteError(f"{where}: unknown record type {kind!r} (expected 'session' or 'exchange')")


def _validate(model: type[BaseModel], record: dict, where: str):
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        problems = "; ".join(f"{_loc(e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()[:3])
        raise CassetteError(f"{where}: {problems}") from None


def _loc(parts: tuple) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(line)"


# ---------------------------------------------------------------------------------------------- writing


class CassetteWriter:
    """Appends one line per completed exchange, flushed at once, so a crash loses nothing finished."""

    def __init__(self, path: str | Path, upstream: str, rules: Rules) -> None:
        self.path = Path(path)
        self.next_id = 1
        if self.path.exists() and self.path.stat().st_size:
            existing = load(self.path)  # refuse to append to something that is not a v1 cassette
            self.next_id = max((e.id for e in existing.exchanges), default=0) + 1
            self._cut_torn_tail()
        try:
            self._file = open(self.path, "ab")
        except OSError as exc:
            raise CassetteError(f"{self.path}: cannot write the cassette: {exc.strerror or exc}") from None
        self.write(session_record(upstream, rules))

    def _cut_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if not data.endswith(b"\n"):
            with open(self.path, "r+b") as file:
                file.truncate(data.rfind(b"\n") + 1)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        self._file.flush()

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def close(self) -> None:
        self._file.close()


# ---------------------------------------------------------------------------------------------- fields


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def _drop(value: Any, parts: list[str]) -> None:
    if not isinstance(value, dict):
        return
    if len(parts) == 1:
        value.pop(parts[0], None)
    elif parts[0] in value:
        _drop(value[parts[0]], parts[1:])


def _replace(value: Any, parts: list[str]) -> None:
    if not isinstance(value, dict) or parts[0] not in value:
        return
    if len(parts) == 1:
        value[parts[0]] = REDACTED
    else:
        _replace(value[parts[0]], parts[1:])
