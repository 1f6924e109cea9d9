"""What the mock "model" answers: deterministic choices with exact token counts.

A request is answered from a seed derived from (mock seed, deployment, request body without its
streaming fields), so the same request gets the same answer, streamed or not. Each choice is planned
once as a list of one-token pieces; the JSON and the SSE renderers only format that plan, which is
what makes the concatenated deltas equal the non-streaming content.
"""

import functools
import hashlib
import math
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from aigw.mocks import schema_data, textgen
from aigw.protocol import ids
from aigw.protocol.tokens import count_text

# Fields that change how an answer is delivered or cut, not what the model "samples": excluding them
# makes the streamed answer equal the JSON one, a max_tokens answer a prefix of the uncut one, and
# choice 0 of n=3 the same as the only choice of n=1 — as with a seeded real model.
_DELIVERY_FIELDS = frozenset({"stream", "stream_options", "max_tokens", "max_completion_tokens", "stop", "n", "user",
                              "logprobs", "top_logprobs", "metadata", "store", "echo", "best_of", "encoding_format"})


def request_digest(seed: int, deployment: str, body: dict[str, Any]) -> bytes:
    """24 bytes that identify what this request asks for: the seed of its answer and its id."""
    stable = {k: v for k, v in body.items() if k not in _DELIVERY_FIELDS}
    hasher = _keyed_hasher(seed, deployment).copy()
    hasher.update(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS))
    return hasher.digest()


@functools.lru_cache(maxsize=256)
def _keyed_hasher(seed: int, deployment: str):
    """BLAKE2b keyed by (mock seed, deployment), made once: a copy costs a fraction of a keyed constructor."""
    return hashlib.blake2b(digest_size=24, key=f"{seed}:{deployment}".encode()[:64])


def seed_of(digest: bytes) -> int:
    return int.from_bytes(digest[:8], "big")


def seeded(seed: int) -> random.Random:
    """``random.Random(seed)`` for an int seed, the same generator at a quarter less cost.

    ``Random.__init__`` runs the Python-level ``Random.seed``, whose type checks end, for an int, in the
    C seeding below and ``gauss_next = None``; a new answer makes one per choice, so that detour counts.
    """
    rng = _new_random(random.Random)
    _seed_random(rng, seed)
    rng.gauss_next = None
    return rng


_new_random = random.Random.__new__  # an unseeded generator (no Python-level __init__)
_seed_random = random.Random.__mro__[1].seed  # the C base class's seeding, what Random.seed ends in for an int


CALL_FRAMING_TOKENS = 3  # what a function call's wrapping costs beyond its name and arguments


class UnusableSchema(ValueError):
    """A client-supplied JSON Schema (tool parameters, response_format) that cannot be answered."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _instance(schema: Any, rng: random.Random, param: str, what: str) -> Any:
    try:
        return schema_data.instance_for_schema(schema, rng)
    except schema_data.SchemaGenerationError as exc:
        raise UnusableSchema(param, f"Invalid schema for {what}: {exc}") from None


@dataclass
class ToolCall:
    id: str
    name: str
    arguments_pieces: list[str]

    @property
    def arguments(self) -> str:
        return "".join(self.arguments_pieces)


@dataclass
class ChoicePlan:
    index: int
    pieces: list[str] = field(default_factory=list)  # content, one token each
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    completion_tokens: int = 0
    logprobs: list[float] | None = None  # one per piece when requested
    legacy_function: bool = False  # answered as message.function_call (the deprecated `functions` API)
    prose: bool = False  # pieces are textgen's words and periods, uncut: the filter knows their words already

    @property
    def content(self) -> str | None:
        return None if self.tool_calls else "".join(self.pieces)


def completion_cap(body: dict[str, Any]) -> int | None:
    cap = body.get("max_completion_tokens")
    return cap if cap is not None else body.get("max_tokens")


def _text_plan(plan: ChoicePlan, rng: random.Random, model: str, cap: int | None, stop: Any) -> None:
    """Fill ``plan`` with generated prose, cut at ``cap`` tokens or before a stop sequence."""
    natural = textgen.natural_length(rng)
    # A capped answer is a prefix of the uncut one, as a seeded real model's would be.
    pieces = textgen.generate_pieces(rng, natural, model, limit=cap)
    if stop:
        text, hit = textgen.apply_stop("".join(pieces), stop)
        if hit:  # the cut may fall inside a word: no longer textgen's words
            plan.pieces = textgen.split_into_deltas(text, model) if text else []
            plan.finish_reason, plan.completion_tokens = "stop", count_text(text, model)
            return
    plan.pieces, plan.completion_tokens, plan.prose = pieces, len(pieces), True
    plan.finish_reason = "length" if cap is not None and natural > cap else "stop"


def _capped(text: str, model: str, cap: int | None) -> tuple[list[str], str, int]:
    """Pieces of a structured answer (JSON, tool arguments), cut at ``cap`` tokens like the real API."""
    pieces = textgen.split_into_deltas(text, model)
    tokens = count_text(text, model)
    if cap is not None and tokens > cap:
        cut = textgen.split_into_deltas(text, model)[:cap]
        return cut, "length", count_text("".join(cut), model)
    return pieces, "stop", tokens


def _chosen_tool(body: dict[str, Any], rng: random.Random) -> dict[str, Any] | None:
    """The function tool the model calls, or None to answer in text.

    ``tool_choice: none`` never calls; a named function is always called; ``required`` always calls;
    ``auto`` calls when the last message is the user's (after a tool result it answers in text, as a
    real model finishes a tool loop). The tool picked is the one whose name/description shares most
    words with the last user message, ties broken by order.
    """
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    functions = [{"type": "function", "function": f} for f in body.get("functions") or []]
    tools = tools or functions
    choice = body.get("tool_choice", body.get("function_call", "auto"))
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = (choice.get("function") or choice).get("name")
        return next((t for t in tools if t["function"]["name"] == wanted), None)
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if choice == "auto" and last.get("role") not in ("user", "developer", "system"):
        return None
    words = set(str(last.get("content", "")).lower().replace("?", " ").split())

    def overlap(tool: dict[str, Any]) -> int:
        f = tool["function"]
        text = (f["name"].replace("_", " ") + " " + f.get("description", "")).lower()
        return len(words & set(text.split()))

    return max(tools, key=overlap)


def plan_chat(body: dict[str, Any], model: str, seed: int) -> list[ChoicePlan]:
    cap = completion_cap(body)
    stop = body.get("stop")
    response_format = (body.get("response_format") or {}).get("type", "text")
    want_logprobs = bool(body.get("logprobs"))
    plans = []
    for index in range(body.get("n") or 1):
        rng = seeded(seed + index)
        plan = ChoicePlan(index)
        tool = _chosen_tool(body, rng)
        if tool is not None:
            function = tool["function"]
            position = next((i for i, t in enumerate(body.get("tools") or []) if t.get("function") is function), 0)
            parameters = function.get("parameters") or {"type": "object"}
            arguments = orjson.dumps(_instance(parameters, rng, f"tools[{position}].function.parameters",
                                               f"function '{function.get('name')}'")).decode()
            # The call's framing costs tokens too, and all of it counts against the cap.
            framing = CALL_FRAMING_TOKENS if cap is None else min(CALL_FRAMING_TOKENS, cap)
            pieces, finish, tokens = _capped(arguments, model, None if cap is None else cap - framing)
            if cap is not None and framing < CALL_FRAMING_TOKENS:
                finish = "length"
            plan.tool_calls = [ToolCall(ids.tool_call_id(rng), function["name"], pieces)]
            plan.legacy_function = "functions" in body and not body.get("tools")
            forced = isinstance(body.get("function_call" if plan.legacy_function else "tool_choice"), dict)
            done = "stop" if forced else ("function_call" if plan.legacy_function else "tool_calls")
            plan.finish_reason = finish if finish == "length" else done
            plan.completion_tokens = tokens + framing
        elif response_format == "json_object":
            plan.pieces, plan.finish_reason, plan.completion_tokens = _capped(schema_data.json_object_text(rng), model, cap)
        elif response_format == "json_schema":
            schema = (body["response_format"].get("json_schema") or {}).get("schema") or {"type": "object"}
            name = (body["response_format"].get("json_schema") or {}).get("name")
            text = orjson.dumps(_instance(schema, rng, "response_format", f"response_format '{name}'")).decode()
            plan.pieces, plan.finish_reason, plan.completion_tokens = _capped(text, model, cap)
        else:
            _text_plan(plan, rng, model, cap, stop)
        if want_logprobs:
            plan.logprobs = [round(-rng.expovariate(8.0), 6) for _ in plan.pieces]
        plans.append(plan)
    return plans


def plan_completion(prompt_text: str, body: dict[str, Any], model: str, seed: int, index: int) -> ChoicePlan:
    """One legacy-completions choice (``index`` counts across prompts × n)."""
    rng = seeded(seed + index)
    cap = legacy_max_tokens(body)  # the legacy API's documented default
    plan = ChoicePlan(index)
    _text_plan(plan, rng, model, cap, body.get("stop"))
    if body.get("logprobs") is not None:
        plan.logprobs = [round(-rng.expovariate(8.0), 6) for _ in plan.pieces]
    return plan


def top_logprobs_for(piece: str, logprob: float, k: int, rng_seed: int) -> list[dict[str, Any]]:
    """``k`` alternatives, the chosen token first and most likely, the rest strictly less likely."""
    rng = random.Random(rng_seed)
    out = [{"token": piece, "logprob": logprob, "bytes": list(piece.encode())}]
    alternatives = [w for w in (" the", " a", " and", " of", " to", " in", " it", " is", " that", " for", " on", " with",
                                " as", " was", " at", " by", " this", " be", " or", " from") if w != piece]
    rng.shuffle(alternatives)
    value = logprob
    for word in alternatives[: max(0, k - 1)]:
        value = round(value - 0.5 - rng.random() * 2, 6)
        out.append({"token": word, "logprob": value, "bytes": list(word.encode())})
    return out[:k]


def token_logprob_entry(piece: str, logprob: float, k: int, rng_seed: int) -> dict[str, Any]:
    return {
        "token": piece,
        "logprob": logprob,
        "bytes": list(piece.encode()),
        "top_logprobs": top_logprobs_for(piece, logprob, k, rng_seed) if k else [],
    }


def exp_prob(logprob: float) -> float:
    return math.exp(logprob)


def legacy_max_tokens(body: dict[str, Any]) -> int:
    """Legacy completions default to 16 tokens when max_tokens is absent or null (OpenAI's documented default)."""
    value = body.get("max_tokens")
    return 16 if value is None else value
