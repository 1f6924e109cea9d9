"""The real ``openai`` SDK (``OpenAI`` on /v1 and ``AzureOpenAI`` on /openai/deployments) against the mock.

Proof that an unmodified client can use the mock as it would Azure OpenAI: responses parse into the
SDK's models, streams reassemble with usage in the last chunk, structured outputs parse into pydantic,
embeddings decode from the SDK's default base64, the SDK's retry honours ``retry-after-ms`` from the
real rate limiter, and every refusal surfaces as the exception class the SDK maps its status to.
"""

import json
import math
import time

import httpx2
import jsonschema
import openai
import pytest
import requests
from openai import AzureOpenAI, OpenAI
from pydantic import BaseModel

from conftest import ADMIN, mock_config, running_mock

API_VERSION = "2024-10-21"
KEY = "sdk-test-key"
HELLO = [{"role": "user", "content": "Hello, who are you?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 1},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}


class Wire:
    """Records what the SDK sends and receives, through httpx2 event hooks on the SDK's own client."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, httpx2.Request]] = []
        self.received: list[tuple[float, httpx2.Response]] = []

    def http_client(self) -> httpx2.Client:
        return openai.DefaultHttpx2Client(event_hooks={"request": [self._on_request], "response": [self._on_response]})

    def _on_request(self, request: httpx2.Request) -> None:
        self.sent.append((time.monotonic(), request))

    def _on_response(self, response: httpx2.Response) -> None:
        self.received.append((time.monotonic(), response))

    def last_body(self) -> dict:
        return json.loads(self.sent[-1][1].content)


def make_client(kind: str, url: str, wire: Wire | None = None, key: str = KEY, max_retries: int = 0):
    http_client = wire.http_client() if wire else None
    if kind == "openai":
        return OpenAI(base_url=url + "/v1", api_key=key, max_retries=max_retries, http_client=http_client)
    return AzureOpenAI(azure_endpoint=url, api_version=API_VERSION, api_key=key, max_retries=max_retries, http_client=http_client)


@pytest.fixture(params=["openai", "azure"])
def kind(request) -> str:
    return request.param


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def client(kind, mock_server, wire):
    with make_client(kind, mock_server, wire) as sdk:
        yield sdk


def test_requests_go_to_the_path_style_of_the_client(client, kind, wire):
    client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=3)
    url = wire.sent[-1][1].url
    if kind == "openai":
        assert url.path == "/v1/chat/completions" and wire.last_body()["model"] == "gpt-4o"
    else:
        assert url.path == "/openai/deployments/gpt-4o/chat/completions"
        assert url.params["api-version"] == API_VERSION
        assert wire.sent[-1][1].headers["api-key"] == KEY


def test_chat(client, kind):
    completion = client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=12)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length"
    usage = completion.usage
    assert usage.completion_tokens == 12 and usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    if kind == "azure":  # Azure's annotations survive as extra fields on the SDK's models
        assert completion.model_extra["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False


def test_streaming_reassembles_content_and_reports_usage_last(client):
    expected = client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=20)
    stream = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, max_tokens=20, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == expected.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["length"]
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.model_dump() == expected.usage.model_dump()
    assert len({c.id for c in chunks}) == 1


def test_tool_calls_parse_and_arguments_fit_the_schema(client):
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Weather in Paris for 3 days?"}], tools=[WEATHER_TOOL], tool_choice="required"
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_TOOL["function"]["parameters"])


def test_streamed_tool_call_accumulates_in_the_sdk_stream_helper(client):
    tool = {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "strict": True}}
    with client.chat.completions.stream(
        model="gpt-4o", messages=[{"role": "user", "content": "Weather?"}], tools=[tool], tool_choice="required"
    ) as stream:
        final = stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    jsonschema.validate(call.function.parsed_arguments, WEATHER_TOOL["function"]["parameters"])
    assert json.loads(call.function.arguments) == call.function.parsed_arguments


def test_json_mode_returns_a_json_object(client):
    completion = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Describe a city as JSON."}], response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(completion.choices[0].message.content), dict)


class City(BaseModel):
    name: str
    population: int
    districts: list[str]
    capital: bool


def test_structured_output_parses_into_a_pydantic_model(client, wire):
    completion = client.chat.completions.parse(
        model="gpt-4o", messages=[{"role": "user", "content": "Describe a city."}], response_format=City
    )
    sent_format = wire.last_body()["response_format"]
    assert sent_format["type"] == "json_schema" and sent_format["json_schema"]["strict"] is True
    message = completion.choices[0].message
    assert isinstance(message.parsed, City)
    assert message.parsed == City.model_validate_json(message.content)


def assert_unit_vectors(vectors: list[list[float]], dimensions: int) -> None:
    for vector in vectors:
        assert len(vector) == dimensions
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, abs_tol=1e-5)


def test_embeddings_default_base64_and_float_agree(client, wire):
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by 4%."]
    default = client.embeddings.create(model="text-embedding-3-small", input=texts)
    assert wire.last_body()["encoding_format"] == "base64"  # the SDK's default, decoded by the SDK
    as_float = client.embeddings.create(model="text-embedding-3-small", input=texts, encoding_format="float")
    assert wire.last_body()["encoding_format"] == "float"
    decoded = [d.embedding for d in default.data]
    floats = [d.embedding for d in as_float.data]
    assert_unit_vectors(decoded, 1536)
    assert_unit_vectors(floats, 1536)
    assert [d.index for d in default.data] == [0, 1]
    for a, b in zip(decoded, floats):
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-6  # base64 carries float32
    assert default.usage.prompt_tokens == default.usage.total_tokens > 0


@pytest.mark.parametrize("model, dimensions, expected", [("text-embedding-3-small", 256, 256), ("text-embedding-3-large", None, 3072),
                                                         ("text-embedding-ada-002", None, 1536)])
def test_embedding_dimensions(client, model, dimensions, expected):
    extra = {"dimensions": dimensions} if dimensions else {}
    response = client.embeddings.create(model=model, input="hello world", **extra)
    assert_unit_vectors([response.data[0].embedding], expected)


def test_legacy_completions(client):
    completion = client.completions.create(model="gpt-35-turbo-instruct", prompt="Once upon a time", max_tokens=7)
    assert isinstance(completion, openai.types.Completion) and completion.object == "text_completion"
    assert completion.choices[0].text and completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 7
    streamed = client.completions.create(model="gpt-35-turbo-instruct", prompt="Once upon a time", max_tokens=7, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == completion.choices[0].text


def test_models_list_and_retrieve(client, kind):
    ids = [m.id for m in client.models.list()]
    assert {"gpt-4o", "gpt-35-turbo-instruct", "text-embedding-3-small"} <= set(ids)
    if kind == "openai":
        assert client.models.retrieve("gpt-4o").id == "gpt-4o"


# --- retries and errors ------------------------------------------------------------------------------


def park_clock_before_window_end(url: str, app, seconds_left: float) -> None:
    """Advance the mock's virtual clock (admin API) so the 60 s token window ends ``seconds_left`` from now."""
    position = app.state.clock.monotonic() % 60
    advance = (60 - seconds_left - position) % 60
    response = requests.post(url + "/_mock/clock/advance", json={"seconds": advance}, headers=ADMIN)
    assert response.status_code == 200


def test_sdk_retries_a_real_429_after_retry_after_ms(kind):
    """First request empties the token window; the SDK's request gets 429, sleeps retry-after-ms, succeeds.

    The window is parked ~0.7 s before its end, so retry-after-ms (~0.6 s) is distinguishable from both
    the SDK's own first backoff (≤ 0.5 s) and the rounded-up ``retry-after: 1``.
    """
    config = mock_config(deployments=[{"name": "tiny", "model": "gpt-4o", "tpm": 100, "rpm": 600}])
    with running_mock(config) as (url, app):
        park_clock_before_window_end(url, app, 0.7)
        filler = {"messages": HELLO, "max_tokens": 90}  # estimate 95 of the 100 tokens: the SDK's request no longer fits
        assert requests.post(url + f"/openai/deployments/tiny/chat/completions?api-version={API_VERSION}", json=filler).status_code == 200
        wire = Wire()
        with make_client(kind, url, wire, max_retries=2) as sdk:
            completion = sdk.chat.completions.create(model="tiny" if kind == "azure" else "gpt-4o", messages=HELLO, max_tokens=5)
        assert completion.choices[0].message.content
        assert [r.status_code for _, r in wire.received] == [429, 200]
        assert [r.headers["x-stainless-retry-count"] for _, r in wire.sent] == ["0", "1"]
        refused = wire.received[0][1]
        retry_after_ms = int(refused.headers["retry-after-ms"])
        assert refused.headers["retry-after"] == "1" and 0 < retry_after_ms <= 700
        waited = wire.sent[1][0] - wire.received[0][0]
        assert retry_after_ms / 1000 - 0.005 <= waited < retry_after_ms / 1000 + 0.3
        counters = requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["tiny"]
        assert counters["requests"] == 3 and counters["rate_limited"] == 1 and counters["succeeded"] == 2


def test_429_without_retries_is_rate_limit_error(kind):
    config = mock_config(deployments=[{"name": "tiny", "model": "gpt-4o", "tpm": 100, "rpm": 600}])
    with running_mock(config) as (url, _), make_client(kind, url) as sdk:
        model = "tiny" if kind == "azure" else "gpt-4o"
        sdk.chat.completions.create(model=model, messages=HELLO, max_tokens=60)  # estimate 65 of 100
        with pytest.raises(openai.RateLimitError) as raised:
            sdk.chat.completions.create(model=model, messages=HELLO, max_tokens=60)
        error = raised.value
        assert error.status_code == 429 and error.code == "429" and "exceeded token rate limit" in error.message
        assert int(error.response.headers["retry-after-ms"]) > 0 and error.request_id


def test_bad_request_names_the_param(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, temperature=2.5)
    assert raised.value.param == "temperature" and raised.value.type == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, extra_body={"frobnicate": 1})
    assert raised.value.param == "frobnicate" and "Unrecognized request argument" in raised.value.message


def test_content_filter_is_bad_request_with_its_code(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Explain how to build a bomb"}])
    error = raised.value
    assert error.code == "content_filter"
    assert error.body["inner_error"]["content_filter_result"]["violence"] == {"filtered": True, "severity": "high"}


def test_unknown_model_or_deployment_is_not_found(client, kind):
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=HELLO)
    assert raised.value.code == ("model_not_found" if kind == "openai" else "DeploymentNotFound")


def test_authentication_error_with_keys_mode(kind):
    with running_mock(mock_config(auth={"mode": "keys", "keys": [KEY]})) as (url, _):
        with make_client(kind, url, key="wrong-key") as sdk, pytest.raises(openai.AuthenticationError) as raised:
            sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert raised.value.code == ("invalid_api_key" if kind == "openai" else "401")
        with make_client(kind, url) as sdk:
            assert sdk.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=2).choices


def test_injected_500_is_internal_server_error_and_retried(kind):
    with running_mock() as (url, _):
        assert requests.put(url + "/_mock/faults/gpt-4o", json={"error_rates": {"500": 1.0}}, headers=ADMIN).status_code == 200
        with make_client(kind, url, max_retries=1) as sdk, pytest.raises(openai.InternalServerError) as raised:
            sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert raised.value.status_code == 500 and raised.value.code == "server_error"
        counters = requests.get(url + "/_mock/counters", headers=ADMIN).json()["deployments"]["gpt-4o"]
        assert counters["errors"] == {"500": 2}  # the first try and the SDK's one retry


def test_outage_503_is_internal_server_error(kind):
    with running_mock() as (url, _):
        requests.post(url + "/_mock/outage/gpt-4o", json={"down": True}, headers=ADMIN)
        with make_client(kind, url) as sdk, pytest.raises(openai.InternalServerError) as raised:
            sdk.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert raised.value.status_code == 503


def test_413_and_415_are_plain_api_status_errors(kind):
    """The SDK has no subclass for 413 or 415: it raises APIStatusError itself, and does not retry."""
    with running_mock(mock_config(max_body_bytes=2000)) as (url, _):
        wire = Wire()
        with make_client(kind, url, wire, max_retries=2) as sdk:
            with pytest.raises(openai.APIStatusError) as too_large:
                sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 1000}])
            with pytest.raises(openai.APIStatusError) as wrong_type:
                sdk.chat.completions.create(model="gpt-4o", messages=HELLO, extra_headers={"Content-Type": "text/plain"})
        assert type(too_large.value) is openai.APIStatusError and too_large.value.status_code == 413
        assert type(wrong_type.value) is openai.APIStatusError and wrong_type.value.status_code == 415
        assert too_large.value.code == "413" and "text/plain" in wrong_type.value.message
        assert len(wire.sent) == 2  # neither was retried
