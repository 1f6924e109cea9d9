"""What an MCP fixture server offers: tools, resources, resource templates, prompts, completions.

A fixture set is plain data plus small async functions, so adding a tool is one entry in a list.
Tools run with a ``ToolContext`` (see ``session``): progress, log messages, requests to the client
(sampling, elicitation) and the seed — never global state, so answers depend only on the seed and
the arguments.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

from jsonschema import Draft202012Validator


class ToolFailure(Exception):
    """A tool ran and failed: the result carries ``isError: true`` and this message, not a protocol error."""


class NotFound(Exception):
    """No such resource (MCP's -32002)."""


class ToolContext(Protocol):
    seed: int
    client_capabilities: dict[str, Any]

    async def progress(self, progress: float, total: float | None = None, message: str | None = None) -> None: ...

    async def log(self, level: str, data: Any, logger: str | None = None) -> None: ...

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]: ...

    async def sleep(self, seconds: float) -> None: ...

    def close_stream(self, retry_ms: int) -> None: ...


ToolHandler = Callable[[dict[str, Any], ToolContext], Awaitable[dict[str, Any]]]


@dataclass
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: ToolHandler
    title: str | None = None
    output_schema: dict[str, Any] | None = None
    annotations: dict[str, Any] | None = None
    validator: Draft202012Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.validator = Draft202012Validator(self.input_schema)

    def listing(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "description": self.description, "inputSchema": self.input_schema}
        if self.title:
            entry["title"] = self.title
        if self.output_schema:
            entry["outputSchema"] = self.output_schema
        if self.annotations:
            entry["annotations"] = self.annotations
        return entry

    def argument_problems(self, arguments: dict[str, Any]) -> list[str]:
        return [f"{'/'.join(map(str, e.absolute_path)) or 'arguments'}: {e.message}"
                for e in sorted(self.validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))]


@dataclass
class Resource:
    uri: str
    name: str
    description: str
    mime_type: str
    text: str | None = None
    blob: str | None = None  # base64

    def listing(self) -> dict[str, Any]:
        return {"uri": self.uri, "name": self.name, "description": self.description, "mimeType": self.mime_type}

    def contents(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"uri": self.uri, "mimeType": self.mime_type}
        if self.blob is not None:
            item["blob"] = self.blob
        else:
            item["text"] = self.text or ""
        return [item]


@dataclass
class ResourceTemplate:
    """A URI template of the simple ``{var}`` form; ``read`` gets the variables, raises NotFound."""

    uri_template: str
    name: str
    description: str
    mime_type: str
    read: Callable[[dict[str, str], int], list[dict[str, Any]]]
    pattern: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{(\w+)\}", self.uri_template)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
        self.pattern = re.compile(f"^{regex}$")

    @property
    def variables(self) -> list[str]:
        return list(self.pattern.groupindex)

    def listing(self) -> dict[str, Any]:
        return {"uriTemplate": self.uri_template, "name": self.name, "description": self.description,
                "mimeType": self.mime_type}

    def match(self, uri: str) -> dict[str, str] | None:
        found = self.pattern.match(uri)
        return found.groupdict() if found else None


@dataclass
class PromptArgument:
    name: str
    description: str
    required: bool = True


@dataclass
class Prompt:
    name: str
    description: str
    arguments: list[PromptArgument]
    render: Callable[[dict[str, str]], list[dict[str, Any]]]
    title: str | None = None

    def listing(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "description": self.description,
                                 "arguments": [{"name": a.name, "description": a.description, "required": a.required}
                                               for a in self.arguments]}
        if self.title:
            entry["title"] = self.title
        return entry


@dataclass
class FixtureSet:
    tools: list[Tool]
    resources: list[Resource]
    templates: list[ResourceTemplate]
    prompts: list[Prompt]
    # (ref kind "ref/prompt"|"ref/resource", prompt name or URI template, argument) → candidate values
    completions: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)

    def select(self, tools: list[str] | None, resources: list[str] | None, prompts: list[str] | None) -> "FixtureSet":
        """The subset a server config names; unknown names are a config error naming the choices."""
        if resources is not None:
            _pick(self.resources + self.templates, resources, _resource_key, "resource")
        return FixtureSet(
            tools=_pick(self.tools, tools, lambda t: t.name, "tool"),
            resources=[r for r in self.resources if resources is None or r.uri in resources],
            templates=[t for t in self.templates if resources is None or t.uri_template in resources],
            prompts=_pick(self.prompts, prompts, lambda p: p.name, "prompt"),
            completions=self.completions,
        )


def _resource_key(item: "Resource | ResourceTemplate") -> str:
    return item.uri if isinstance(item, Resource) else item.uri_template


def _pick(items: list, names: list[str] | None, key: Callable, kind: str) -> list:
    if names is None:
        return list(items)
    known = {key(i): i for i in items}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown {kind}(s) {', '.join(unknown)}; this fixture set has: {', '.join(known)}")
    return [known[n] for n in names]


def text_result(text: str, structured: dict[str, Any] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"content": [{"type": "text", "text": text}]}
    if structured is not None:
        result["structuredContent"] = structured
    return result
