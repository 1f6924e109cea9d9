"""What each model accepts in one request, and the 400 the real service answers when a request asks for more.

Every deployment has a *context window* (prompt plus completion, per choice), a *completion cap* (the most
tokens one answer may have; ``None`` where the context window is the only bound, as for gpt-4 0613) and,
for embeddings, a cap on the tokens of each input. The defaults below are the public model tables; a
deployment in ``mock.yaml`` may set ``context_window``, ``max_completion_tokens`` and ``max_input_tokens``
itself (models the table does not know have no limits unless set).

Sources (checked against the pages named; keep the source next to any value you change):

- [AOAI-MODELS] Azure OpenAI in Foundry Models, model tables ("Max request (tokens)", "Context window",
  "Max output tokens"): https://learn.microsoft.com/azure/ai-foundry/openai/concepts/models
  (MicrosoftDocs/azure-ai-docs articles/ai-foundry/openai/includes/models-azure-direct-openai.md).
- [AOAI-MODELS-2023] The same page as of late 2023 (MicrosoftDocs/azure-docs
  articles/ai-services/openai/concepts/models.md): gpt-4 0314/0613 8,192; gpt-4-32k 32,768; gpt-35-turbo
  0301/0613 4,096; gpt-35-turbo-16k 16,384; text-embedding-ada-002 version 2 8,191.
- [AOAI-EMB-QA] Microsoft Q&A 1664189 (2024-05-08): text-embedding-3-large "maximum request size of 8,191
  tokens", citing the model table; text-embedding-3-small shares the limit.

The error texts are OpenAI's, as users quote them (facts file §6; e.g. openai-python and langchain issues):

- completion cap: ``max_tokens is too large: 8192. This model supports at most 4096 completion tokens,
  whereas you provided 8192.`` — ``param`` the field that was too large (``max_tokens`` or
  ``max_completion_tokens``), ``code`` null;
- chat context: ``This model's maximum context length is 8192 tokens. However, you requested 8256 tokens
  (64 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.``
  (without a cap: ``However, your messages resulted in N tokens. Please reduce the length of the
  messages.``) — ``code`` ``context_length_exceeded``, ``param`` ``messages``;
- legacy completions and embeddings: ``This model's maximum context length is 4097 tokens, however you
  requested 4162 tokens (1090 in your prompt; 3072 for the completion). Please reduce your prompt; or
  completion length.`` — ``code`` ``context_length_exceeded``, ``param`` ``prompt`` / ``input``.

These are checked before admission, so a request the model can never serve is never charged to a
rate-limit window (see ``ratelimit``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aigw.protocol import errors
from aigw.protocol.tokens import count_chat_prompt, count_embedding_inputs, count_prompts

CONTEXT_CODE = "context_length_exceeded"


@dataclass(frozen=True)
class ModelLimits:
    context_window: int | None
    max_completion_tokens: int | None = None  # None: only the context window bounds the completion
    max_input_tokens: int | None = None  # embeddings: per input
    source: str = ""


_GPT4O = ModelLimits(128_000, 16_384, source="AOAI-MODELS: gpt-4o 2024-08-06/2024-11-20, Input 128,000, Output 16,384")
_GPT4_TURBO = ModelLimits(128_000, 4_096, source="AOAI-MODELS: gpt-4 turbo-2024-04-09, Input 128,000, Output 4,096")
_GPT41 = ModelLimits(1_047_576, 32_768, source="AOAI-MODELS: gpt-4.1 2025-04-14, context 1,047,576, max output 32,768")
_EMBEDDINGS = ModelLimits(None, None, 8_191, source="AOAI-MODELS-2023 / AOAI-EMB-QA: max request 8,191 tokens")

# (model, version) → limits; version None matches any version not listed. Looked up longest model name first.
DEFAULT_LIMITS: dict[tuple[str, str | None], ModelLimits] = {
    ("gpt-4o", "2024-05-13"): ModelLimits(128_000, 4_096, source="AOAI-MODELS: gpt-4o 2024-05-13, Input 128,000, Output 4,096"),
    ("gpt-4o", None): _GPT4O,
    ("gpt-4o-mini", None): ModelLimits(128_000, 16_384, source="AOAI-MODELS: gpt-4o-mini 2024-07-18, Input 128,000, Output 16,384"),
    ("gpt-4.1", None): _GPT41,
    ("gpt-4.1-mini", None): _GPT41,
    ("gpt-4.1-nano", None): _GPT41,
    ("gpt-4", "turbo-2024-04-09"): _GPT4_TURBO,
    ("gpt-4", "1106-preview"): _GPT4_TURBO,
    ("gpt-4", "0125-preview"): _GPT4_TURBO,
    ("gpt-4", "vision-preview"): _GPT4_TURBO,
    ("gpt-4", None): ModelLimits(8_192, source="AOAI-MODELS-2023: gpt-4 0314/0613, max request 8,192"),
    ("gpt-4-32k", None): ModelLimits(32_768, source="AOAI-MODELS-2023: gpt-4-32k 0314/0613, max request 32,768"),
    ("gpt-35-turbo", "0301"): ModelLimits(4_096, source="AOAI-MODELS-2023: gpt-35-turbo 0301, max request 4096"),
    ("gpt-35-turbo", "0613"): ModelLimits(4_096, source="AOAI-MODELS-2023: gpt-35-turbo 0613, max request 4096"),
    ("gpt-35-turbo", None): ModelLimits(16_385, 4_096, source="AOAI-MODELS: gpt-35-turbo 0125/1106, Input 16,385, Output 4,096"),
    ("gpt-35-turbo-16k", None): ModelLimits(16_384, source="AOAI-MODELS-2023: gpt-35-turbo-16k 0613, max request 16,384"),
    ("gpt-35-turbo-instruct", None): ModelLimits(4_097, source="AOAI-MODELS: gpt-35-turbo-instruct 0914, max request 4,097"),
    ("text-embedding-ada-002", None): _EMBEDDINGS,
    ("text-embedding-3-small", None): _EMBEDDINGS,
    ("text-embedding-3-large", None): _EMBEDDINGS,
}
UNKNOWN = ModelLimits(None, source="not in the table: no limits unless the deployment sets them")


def default_limits(model: str, version: str | None) -> ModelLimits:
    """The table's limits for ``model`` at ``version`` (an exact version entry first, then the model's)."""
    return DEFAULT_LIMITS.get((model, version)) or DEFAULT_LIMITS.get((model, None)) or UNKNOWN


def request_problem(operation: str, body: dict[str, Any], deployment: Any) -> dict[str, Any] | None:
    """The 400 body for a request above ``deployment``'s limits, or None when it fits.

    ``deployment`` carries ``model``, ``context_window``, ``max_completion_tokens`` and ``max_input_tokens``.
    """
    if operation == "chat":
        return _chat_problem(body, deployment)
    if operation == "completions":
        return _completions_problem(body, deployment)
    return _embeddings_problem(body, deployment)


def _cap_problem(field: str, asked: int, cap: int | None) -> dict[str, Any] | None:
    if cap is None or asked <= cap:
        return None
    return errors.error_body(f"{field} is too large: {asked}. This model supports at most {cap} completion tokens, "
                             f"whereas you provided {asked}.", param=field, code=None, type=errors.INVALID_REQUEST)


def _chat_problem(body: dict[str, Any], deployment: Any) -> dict[str, Any] | None:
    field = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    asked = body.get(field)
    problem = _cap_problem(field, asked, deployment.max_completion_tokens) if asked is not None else None
    if problem or deployment.context_window is None:
        return problem
    window = deployment.context_window
    prompt = count_chat_prompt(body["messages"], deployment.model, body.get("tools") or body.get("functions"))
    if asked is None:
        if prompt <= window:
            return None
        message = (f"This model's maximum context length is {window} tokens. However, your messages resulted in "
                   f"{prompt} tokens. Please reduce the length of the messages.")
    elif prompt + asked <= window:
        return None
    else:
        message = (f"This model's maximum context length is {window} tokens. However, you requested {prompt + asked} "
                   f"tokens ({prompt} in the messages, {asked} in the completion). Please reduce the length of the "
                   "messages or completion.")
    return errors.invalid_request(message, param="messages", code=CONTEXT_CODE)


def _legacy_context(window: int, prompt: int, completion: int, param: str) -> dict[str, Any]:
    message = (f"This model's maximum context length is {window} tokens, however you requested {prompt + completion} "
               f"tokens ({prompt} in your prompt; {completion} for the completion). Please reduce your prompt; or "
               "completion length.")
    return errors.invalid_request(message, param=param, code=CONTEXT_CODE)


def _completions_problem(body: dict[str, Any], deployment: Any) -> dict[str, Any] | None:
    asked = body.get("max_tokens")
    completion = 16 if asked is None else asked  # the legacy API's documented default
    problem = _cap_problem("max_tokens", asked, deployment.max_completion_tokens) if asked is not None else None
    if problem or deployment.context_window is None:
        return problem
    longest = max(count_prompts(body["prompt"], deployment.model), default=0)
    if longest + completion <= deployment.context_window:
        return None
    return _legacy_context(deployment.context_window, longest, completion, "prompt")


def _embeddings_problem(body: dict[str, Any], deployment: Any) -> dict[str, Any] | None:
    cap = deployment.max_input_tokens
    if cap is None:
        return None
    longest = max(count_embedding_inputs(body["input"], deployment.model), default=0)
    return None if longest <= cap else _legacy_context(cap, longest, 0, "input")
