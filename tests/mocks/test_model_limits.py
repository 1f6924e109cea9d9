"""The mock knows each model's limits and refuses what the real service refuses, with OpenAI's own 400s —
and a request that can never fit a rate-limit window is refused without being charged (Azure's 429)."""

import pytest
import requests

from aigw.mocks.config import MockConfig, default_config
from aigw.mocks.model_limits import DEFAULT_LIMITS, default_limits
from conftest import ADMIN, mock_config, running_mock

API = "api-version=2024-10-21"
HELLO = [{"role": "user", "content": "Hello"}]


def paths(operation: str, deployment: str) -> list[tuple[str, dict]]:
    """(path, extra body) for the Azure, APIM-suffix and /v1 styles of one operation."""
    suffix = {"chat": "chat/completions", "completions": "completions", "embeddings": "embeddings"}[operation]
    return [(f"/openai/deployments/{deployment}/{suffix}?{API}", {}), (f"/deployments/{deployment}/{suffix}", {}),
            (f"/v1/{suffix}", {"model": deployment})]


def post(url: str, path: str, body: dict) -> requests.Response:
    return requests.post(url + path, json=body, timeout=30)


def error_of(response: requests.Response) -> dict:
    assert response.status_code == 400, response.text[:300]
    return response.json()["error"]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_completion_cap_is_openais_400_on_every_path(mock_server, field):
    for path, extra in paths("chat", "gpt-4o"):
        error = error_of(post(mock_server, path, {**extra, "messages": HELLO, field: 20000}))
        assert error["message"] == (f"{field} is too large: 20000. This model supports at most 16384 completion tokens, "
                                    "whereas you provided 20000.")
        assert error["param"] == field and error["code"] is None and error["type"] == "invalid_request_error"
        ok = post(mock_server, path, {**extra, "messages": HELLO, field: 16384})
        assert ok.status_code == 200, ok.text[:300]


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_context_window_is_openais_400_on_every_path(mock_server, field):
    messages = [{"role": "user", "content": "word " * 8000}]  # gpt-4 (0613): 8,192 tokens in all, no separate cap
    for path, extra in paths("chat", "gpt-4"):
        error = error_of(post(mock_server, path, {**extra, "messages": messages, field: 500}))
        prompt = int(error["message"].split("(")[1].split(" in the messages")[0])
        assert error["message"] == (f"This model's maximum context length is 8192 tokens. However, you requested {prompt + 500} "
                                    f"tokens ({prompt} in the messages, 500 in the completion). Please reduce the length of "
                                    "the messages or completion.")
        assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
        assert 8000 <= prompt <= 8010
    fits = post(mock_server, paths("chat", "gpt-4")[0][0], {"messages": messages, "max_tokens": 150})
    assert fits.status_code == 200, fits.text[:300]


def test_a_prompt_alone_over_the_window_names_only_the_messages(mock_server):
    messages = [{"role": "user", "content": "word " * 9000}]
    error = error_of(post(mock_server, paths("chat", "gpt-4")[0][0], {"messages": messages}))
    assert error["message"].startswith("This model's maximum context length is 8192 tokens. However, your messages "
                                       "resulted in 90") and error["message"].endswith("Please reduce the length of the messages.")
    assert error["code"] == "context_length_exceeded"


def test_legacy_completions_context_on_every_path(mock_server):
    prompt = "word " * 4000  # gpt-35-turbo-instruct: 4,097 tokens in all
    for path, extra in paths("completions", "gpt-35-turbo-instruct"):
        error = error_of(post(mock_server, path, {**extra, "prompt": prompt, "max_tokens": 200}))
        assert error["message"].startswith("This model's maximum context length is 4097 tokens, however you requested 42")
        assert error["message"].endswith("; 200 for the completion). Please reduce your prompt; or completion length.")
        assert error["code"] == "context_length_exceeded" and error["param"] == "prompt"
    # absent max_tokens means the API's default of 16, which still has to fit
    error = error_of(post(mock_server, paths("completions", "gpt-35-turbo-instruct")[0][0], {"prompt": "word " * 4090}))
    assert "; 16 for the completion)" in error["message"]
    fits = post(mock_server, paths("completions", "gpt-35-turbo-instruct")[0][0], {"prompt": prompt, "max_tokens": 50})
    assert fits.status_code == 200, fits.text[:300]


def test_embeddings_input_limit_per_input_on_every_path(mock_server):
    long = "hello" + " hello" * 8999  # 9,000 tokens
    for path, extra in paths("embeddings", "text-embedding-3-small"):
        error = error_of(post(mock_server, path, {**extra, "input": ["short", long]}))
        assert error["message"] == ("This model's maximum context length is 8191 tokens, however you requested 9000 tokens "
                                    "(9000 in your prompt; 0 for the completion). Please reduce your prompt; or completion length.")
        assert error["code"] == "context_length_exceeded" and error["param"] == "input"
    # the limit is per input: many inputs under it together are fine
    many = post(mock_server, paths("embeddings", "text-embedding-3-small")[0][0], {"input": ["hello " * 5000] * 3})
    assert many.status_code == 200, many.text[:300]
    tokens = post(mock_server, paths("embeddings", "text-embedding-3-small")[0][0], {"input": [[1] * 8192]})
    assert "8192 in your prompt" in error_of(tokens)["message"]


def test_shipped_models_have_their_documented_limits():
    expected = {"gpt-4o": (128_000, 16_384, None), "gpt-4o-mini": (128_000, 16_384, None),
                "gpt-4.1": (1_047_576, 32_768, None), "gpt-4": (8_192, None, None), "gpt-35-turbo": (16_385, 4_096, None),
                "gpt-35-turbo-instruct": (4_097, None, None), "text-embedding-ada-002": (None, None, 8_191),
                "text-embedding-3-small": (None, None, 8_191), "text-embedding-3-large": (None, None, 8_191)}
    got = {d.name: (d.context_window, d.max_completion_tokens, d.max_input_tokens) for d in default_config().deployments}
    assert got == expected
    assert all(limits.source for limits in DEFAULT_LIMITS.values()), "every value names its source"
    assert default_limits("gpt-4", "turbo-2024-04-09").context_window == 128_000  # versions differ
    assert default_limits("gpt-4o", "2024-05-13").max_completion_tokens == 4_096
    assert default_limits("my-llama", "1").context_window is None


def test_limits_are_configurable_per_deployment_and_shown_by_the_admin_api():
    config = mock_config(deployments=[
        {"name": "small", "model": "gpt-4o", "context_window": 1000, "max_completion_tokens": 100},
        {"name": "custom", "model": "my-llama"},
    ])
    with running_mock(config) as (url, _):
        assert error_of(post(url, f"/openai/deployments/small/chat/completions?{API}", {"messages": HELLO, "max_tokens": 101}))
        assert post(url, f"/openai/deployments/small/chat/completions?{API}", {"messages": HELLO, "max_tokens": 100}).ok
        big = {"messages": [{"role": "user", "content": "word " * 950}], "max_tokens": 100}
        assert error_of(post(url, f"/openai/deployments/small/chat/completions?{API}", big))["code"] == "context_length_exceeded"
        assert post(url, f"/openai/deployments/custom/chat/completions?{API}", {"messages": HELLO, "max_tokens": 10**6}).status_code != 400
        limits = requests.get(url + "/_mock/limits", headers=ADMIN).json()["deployments"]
        assert limits["small"]["context_window"] == 1000 and limits["small"]["max_completion_tokens"] == 100
        assert limits["custom"]["context_window"] is None
    with pytest.raises(ValueError):
        MockConfig.model_validate({**default_config().model_dump(), "deployments": [{"name": "x", "model": "gpt-4o", "context_window": 0}]})


def test_refused_requests_are_never_charged():
    config = mock_config(deployments=[{"name": "tiny", "model": "gpt-4o", "tpm": 1000, "rpm": 600}])
    path = f"/openai/deployments/tiny/chat/completions?{API}"
    with running_mock(config) as (url, _):
        over_the_cap = post(url, path, {"messages": HELLO, "max_tokens": 50_000})
        assert over_the_cap.status_code == 400
        never_fits = post(url, path, {"messages": HELLO, "max_tokens": 1_000})  # estimate 1,002 > the whole 1,000 TPM
        assert never_fits.status_code == 429
        assert never_fits.headers["retry-after"] == "86400" and never_fits.headers["retry-after-ms"] == "86400000"
        assert "Please retry after 86400 seconds" in never_fits.json()["error"]["message"]
        window = requests.get(url + "/_mock/limits", headers=ADMIN).json()["deployments"]["tiny"]
        assert window["tokens_used"] == 0 and window["requests_used"] == 0
        fills = post(url, path, {"messages": HELLO, "max_tokens": 990})  # estimate 992: fits the untouched window
        assert fills.status_code == 200 and fills.headers["x-ratelimit-remaining-tokens"] == "8"
        counters = requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["tiny"]
        assert counters["rate_limited"] == 1 and counters["errors"] == {"429": 1} and counters["succeeded"] == 1
