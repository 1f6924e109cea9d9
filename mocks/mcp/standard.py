"""The ``standard`` fixture set: tools, resources and prompts a gateway test can rely on.

Every output is a function of (mock seed, arguments): the weather in a city, a search ranking and
a calculation come out the same on every run with the same seed.
"""

import math
import random
import re
from typing import Any

import orjson

from aigw.mocks.mcp.fixtures import (
    FixtureSet, NotFound, Prompt, PromptArgument, Resource, ResourceTemplate, Tool, ToolContext, ToolFailure,
    text_result,
)
from aigw.mocks.mcp.media import LOGO_PNG

CORPUS: dict[str, tuple[str, str]] = {
    "token-limits": ("Token limits", "The llm-token-limit policy counts prompt and completion tokens per key and "
                     "answers 429 with a retry-after header once the tokens-per-minute budget is spent."),
    "semantic-caching": ("Semantic caching", "Semantic caching stores completions with an embedding of the prompt "
                         "and serves a cached completion when a new prompt is similar enough to an old one."),
    "load-balancing": ("Load balancing", "A backend pool spreads requests over several model deployments by "
                       "priority and weight; a circuit breaker takes a failing backend out of the pool."),
    "content-safety": ("Content safety", "The llm-content-safety policy sends prompts to Azure AI Content Safety "
                       "and blocks a request whose categories exceed the configured severity."),
    "mcp-servers": ("MCP servers", "The gateway exposes MCP servers over streamable HTTP and can turn a REST API "
                    "into an MCP server whose tools are the API's operations."),
    "managed-identity": ("Managed identity", "The gateway authenticates to Azure OpenAI with its managed identity, "
                         "so no API key is stored in the gateway configuration."),
}
CITIES = ["Amsterdam", "Berlin", "Lisbon", "London", "Madrid", "Paris", "Seattle", "Sydney", "Tokyo", "Toronto"]
CONDITIONS = ["sunny", "partly cloudy", "cloudy", "light rain", "rain", "windy", "foggy", "snow showers"]
_WORD = re.compile(r"[a-z0-9]+")


def weather(seed: int, location: str, units: str = "fahrenheit") -> dict[str, Any]:
    rng = random.Random(f"{seed}:weather:{location.strip().lower()}")
    celsius = rng.randint(-5, 32)
    return {"location": location, "temperature": celsius if units == "celsius" else round(celsius * 9 / 5 + 32),
            "units": units, "conditions": rng.choice(CONDITIONS), "humidity": rng.randint(20, 95),
            "wind_kph": rng.randint(0, 45)}


def search(query: str, limit: int) -> list[dict[str, Any]]:
    """Rank documents by shared words (title words count double); ties by slug, so stable."""
    terms = set(_WORD.findall(query.lower()))
    hits = []
    for slug, (title, text) in CORPUS.items():
        score = 2 * len(terms & set(_WORD.findall(title.lower()))) + len(terms & set(_WORD.findall(text.lower())))
        if score:
            hits.append({"uri": f"docs://{slug}", "title": title, "score": score, "snippet": text[:80]})
    hits.sort(key=lambda h: (-h["score"], h["uri"]))
    return hits[:limit]


async def _calculator(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    a, b, op = args["a"], args["b"], args["operation"]
    if op == "divide" and b == 0:
        raise ToolFailure("Cannot divide by zero.")
    if op == "power" and (abs(b) > 64 or abs(a) > 1e6 or (a == 0 and b < 0) or (a < 0 and b != int(b))):
        raise ToolFailure(f"{a} ** {b} is out of range for this calculator.")
    value = {"add": lambda: a + b, "subtract": lambda: a - b, "multiply": lambda: a * b,
             "divide": lambda: a / b, "power": lambda: a ** b}[op]()
    if not math.isfinite(value):
        raise ToolFailure(f"{a} {op} {b} overflows a double.")
    return text_result(f"{a} {op} {b} = {value}", {"result": value})


async def _get_weather(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    report = weather(ctx.seed, args["location"], args.get("units", "fahrenheit"))
    unit = "C" if report["units"] == "celsius" else "F"
    return text_result(f"The weather in {report['location']} is {report['temperature']}{unit} and "
                       f"{report['conditions']}.", report)


async def _search_docs(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    hits = search(args["query"], args.get("limit", 3))
    lines = [f"{h['title']} ({h['uri']}): {h['snippet']}" for h in hits] or [f"No document matches {args['query']!r}."]
    return text_result("\n".join(lines), {"results": hits})


async def _slow_task(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    steps, step_ms = args.get("steps", 5), args.get("step_ms", 200)
    await ctx.log("info", {"event": "started", "steps": steps}, "slow_task")
    for done in range(1, steps + 1):
        await ctx.sleep(step_ms / 1000)
        await ctx.progress(done, steps, f"step {done} of {steps}")
    await ctx.log("info", {"event": "finished", "steps": steps}, "slow_task")
    return text_result(f"Completed {steps} steps in {steps * step_ms} ms.", {"steps": steps})


async def _failing_tool(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    await ctx.log("error", {"event": "failure", "reason": args.get("reason", "upstream unavailable")}, "failing_tool")
    raise ToolFailure(f"The inventory service is unavailable: {args.get('reason', 'upstream unavailable')} "
                      "(simulated failure).")


NUMBER = {"type": "number"}
TOOLS = [
    Tool("calculator", "Evaluate one arithmetic operation on two numbers.", {
        "type": "object", "properties": {
            "operation": {"type": "string", "enum": ["add", "subtract", "multiply", "divide", "power"]},
            "a": NUMBER, "b": NUMBER},
        "required": ["operation", "a", "b"], "additionalProperties": False},
        _calculator, title="Calculator", annotations={"readOnlyHint": True, "idempotentHint": True},
        output_schema={"type": "object", "properties": {"result": NUMBER}, "required": ["result"]}),
    Tool("get_weather", "Current weather for a location (deterministic per seed).", {
        "type": "object", "properties": {
            "location": {"type": "string", "minLength": 1, "maxLength": 100},
            "units": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "fahrenheit"}},
        "required": ["location"], "additionalProperties": False},
        _get_weather, title="Weather lookup", annotations={"readOnlyHint": True, "openWorldHint": False}),
    Tool("search_docs", "Search the gateway documentation corpus; results link to docs:// resources.", {
        "type": "object", "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 500},
            "limit": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}},
        "required": ["query"], "additionalProperties": False},
        _search_docs, title="Document search", annotations={"readOnlyHint": True}),
    Tool("slow_task", "Run a task of several steps, reporting progress after each (send a progressToken).", {
        "type": "object", "properties": {
            "steps": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
            "step_ms": {"type": "integer", "minimum": 0, "maximum": 5000, "default": 200}},
        "additionalProperties": False},
        _slow_task, title="Slow task with progress"),
    Tool("failing_tool", "Always fails: the result has isError true (for testing error handling).", {
        "type": "object", "properties": {"reason": {"type": "string", "maxLength": 200}}, "additionalProperties": False},
        _failing_tool, title="Failing tool"),
]


def _read_weather(variables: dict[str, str], seed: int) -> list[dict[str, Any]]:
    location = variables["location"]
    return [{"uri": f"weather://{location}/current", "mimeType": "application/json",
             "text": orjson.dumps(weather(seed, location)).decode()}]


def _read_search(variables: dict[str, str], seed: int) -> list[dict[str, Any]]:
    query = variables["query"]
    return [{"uri": f"docs://search/{query}", "mimeType": "application/json",
             "text": orjson.dumps({"query": query, "results": search(query.replace("+", " "), 10)}).decode()}]


def _read_section(variables: dict[str, str], seed: int) -> list[dict[str, Any]]:
    slug, number = variables["slug"], variables["n"]
    if slug not in CORPUS or not number.isdigit():
        raise NotFound(f"docs://{slug}/sentences/{number}")
    sentences = [s.strip() for s in CORPUS[slug][1].split(";")]
    index = int(number)
    if not 1 <= index <= len(sentences):
        raise NotFound(f"docs://{slug}/sentences/{number} (the document has {len(sentences)})")
    return [{"uri": f"docs://{slug}/sentences/{number}", "mimeType": "text/plain", "text": sentences[index - 1]}]


RESOURCES = [Resource(f"docs://{slug}", slug, title, "text/markdown", text=f"# {title}\n\n{text}\n")
             for slug, (title, text) in CORPUS.items()]
RESOURCES.append(Resource("docs://logo.png", "logo.png", "The mock's logo (a 4x4 PNG).", "image/png", blob=LOGO_PNG))
TEMPLATES = [
    ResourceTemplate("weather://{location}/current", "current-weather", "Current weather for a location as JSON.",
                     "application/json", _read_weather),
    ResourceTemplate("docs://search/{query}", "doc-search", "Search results for a query as JSON.", "application/json",
                     _read_search),
    ResourceTemplate("docs://{slug}/sentences/{n}", "doc-sentence", "One sentence of a document (1-based).",
                     "text/plain", _read_section),
]


def _summarize(args: dict[str, str]) -> list[dict[str, Any]]:
    slug = args["slug"]
    if slug not in CORPUS:
        raise ValueError(f"unknown document {slug!r}; known: {', '.join(CORPUS)}")
    title, text = CORPUS[slug]
    style = args.get("style") or "one paragraph"
    return [{"role": "user", "content": {"type": "resource", "resource": {
                "uri": f"docs://{slug}", "mimeType": "text/markdown", "text": f"# {title}\n\n{text}\n"}}},
            {"role": "user", "content": {"type": "text", "text": f"Summarize the document above as {style}."}}]


def _weather_report(args: dict[str, str]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": {"type": "text", "text":
             f"Write a short weather report for {args['location']} using the get_weather tool."}}]


PROMPTS = [
    Prompt("summarize_document", "Summarize one document of the corpus.",
           [PromptArgument("slug", "Document slug, e.g. token-limits"),
            PromptArgument("style", "How to summarize (default: one paragraph)", required=False)],
           _summarize, title="Summarize a document"),
    Prompt("weather_report", "Ask for a weather report for a location.",
           [PromptArgument("location", "City name")], _weather_report, title="Weather report"),
]

STANDARD = FixtureSet(TOOLS, RESOURCES, TEMPLATES, PROMPTS, completions={
    ("ref/prompt", "summarize_document", "slug"): sorted(CORPUS),
    ("ref/prompt", "summarize_document", "style"): ["bullet points", "one paragraph", "one sentence"],
    ("ref/prompt", "weather_report", "location"): CITIES,
    ("ref/resource", "weather://{location}/current", "location"): CITIES,
    ("ref/resource", "docs://{slug}/sentences/{n}", "slug"): sorted(CORPUS),
})
