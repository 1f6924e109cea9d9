"""Answers memoised by request bytes: the mock's answer is a pure function of what was asked.

Given the config, a request's route and body bytes decide everything expensive — parsing, schema
validation, token counts, the generated choices and their serialised form. Load tests repeat
requests a lot, so that work is done once per distinct request and kept in a bounded FIFO table.
Everything that must differ per request is *not* memoised: request ids, rate limits, counters,
faults, and ``created`` (the rendered bytes are rebuilt when the clock's second changes).
"""

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any


from aigw.mocks import operations
from aigw.mocks.config import Deployment
from aigw.mocks.content_filter import ContentFilter
from aigw.mocks.generation import request_digest

MAX_ENTRIES = 4096
MAX_BODY_BYTES = 16 * 1024  # larger bodies are answered but not kept


@dataclass
class Answer:
    operation: str
    body: dict[str, Any]
    deployment: Deployment
    azure: bool
    prepared: operations.Prepared
    digest: bytes
    stream: bool
    planned: operations.Planned | None = None  # chat/completions: decided at first sight
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _rendered_at: int | None = field(default=None, repr=False)
    _rendered: Any = field(default=None, repr=False)

    def render(self, created: int) -> Any:
        """The response: JSON bytes, or a list of ``(event, paced)`` for a stream."""
        if self._rendered_at == created or (self._rendered is not None and self.operation == "embeddings"):
            return self._rendered
        if self.operation == "embeddings":
            payload, self.prompt_tokens = operations.embeddings(self.body, self.deployment)
        else:
            render = operations.render_chat if self.operation == "chat" else operations.render_completions
            payload = render(self.planned, self.body, self.deployment, self.digest, created, self.azure, self.prepared)
        self._rendered_at, self._rendered = created, payload
        return payload


def make_answer(operation: str, body: dict[str, Any], deployment: Deployment, azure: bool, seed: int,
                default_max_tokens: int, screen: ContentFilter | None = None) -> Answer:
    """Everything but rendering; raises generation.UnusableSchema for a schema that cannot be answered."""
    answer = Answer(
        operation=operation,
        body=body,
        deployment=deployment,
        azure=azure,
        prepared=operations.prepare(operation, body, default_max_tokens, azure, screen),
        digest=request_digest(seed, deployment.name, body),
        stream=bool(body.get("stream")),
    )
    if operation != "embeddings":
        plan = operations.plan_chat if operation == "chat" else operations.plan_completions
        answer.planned = plan(body, deployment, answer.digest)
        answer.planned.screen(answer.prepared)
        answer.prompt_tokens, answer.completion_tokens = answer.planned.prompt_tokens, answer.planned.completion_tokens
    return answer


class AnswerCache:
    """A bounded first-in-first-out table.

    An OrderedDict, not a dict: evicting a dict's first key with ``next(iter(d))`` walks past every slot
    freed since its last resize — thousands when every request is new, about 10 µs each time.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, Answer] = OrderedDict()

    def get(self, key: tuple) -> Answer | None:
        return self._entries.get(key)

    def put(self, key: tuple, answer: Answer) -> None:
        if len(key[-1]) > MAX_BODY_BYTES:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)  # first in, first out
        self._entries[key] = answer

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
