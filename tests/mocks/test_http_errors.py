"""The mock refuses bad requests exactly as the real service does: right status, OpenAI error body."""

import pytest
import requests

from conftest import mock_config, running_mock

AZURE_CHAT = "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
HELLO = {"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 5}


def error_of(response: requests.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert {"code", "message", "param", "type"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"messages": [{"role": "user", "content": "x"}], "temperature": 2.5}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "top_p": -0.1}, "top_p"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 0}, "n"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 2.5}, "presence_penalty"),
        ({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}, "temperature"),
        ({"max_tokens": 5}, "messages"),
    ],
)
def test_invalid_chat_fields_name_the_param(mock_server, body, param):
    response = requests.post(mock_server + AZURE_CHAT, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["param"] is not None and error["param"].startswith(param), error


def test_unknown_argument_is_named_like_the_real_api(mock_server):
    response = requests.post(mock_server + AZURE_CHAT, json={**HELLO, "frobnicate": 1})
    assert response.status_code == 400
    error = error_of(response)
    assert error["message"] == "Unrecognized request argument supplied: frobnicate"
    assert error["param"] == "frobnicate"


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
def test_malformed_json_is_400(mock_server, raw):
    response = requests.post(mock_server + AZURE_CHAT, data=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_request_error"


def test_wrong_content_type_is_415(mock_server):
    response = requests.post(mock_server + AZURE_CHAT, data=b"hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert "text/plain" in error_of(response)["message"]


def test_oversized_body_is_413():
    with running_mock(mock_config(max_body_bytes=1000)) as (url, _):
        big = {"messages": [{"role": "user", "content": "x" * 2000}]}
        response = requests.post(url + AZURE_CHAT, json=big)
        assert response.status_code == 413
        error_of(response)


def test_unknown_path_404_and_wrong_method_405(mock_server):
    missing = requests.post(mock_server + "/openai/deployments/gpt-4o/chat/nothing?api-version=2024-10-21", json=HELLO)
    assert missing.status_code == 404
    error_of(missing)
    wrong = requests.get(mock_server + AZURE_CHAT)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    error_of(wrong)


def test_unknown_deployment_is_azure_404(mock_server):
    response = requests.post(mock_server + "/openai/deployments/nope/chat/completions?api-version=2024-10-21", json=HELLO)
    assert response.status_code == 404
    assert error_of(response)["code"] == "DeploymentNotFound"


def test_unknown_model_on_v1_is_404(mock_server):
    response = requests.post(mock_server + "/v1/chat/completions", json={**HELLO, "model": "gpt-9"})
    assert response.status_code == 404
    assert error_of(response)["code"] == "model_not_found"


def test_v1_without_model_is_400(mock_server):
    response = requests.post(mock_server + "/v1/chat/completions", json=HELLO)
    assert response.status_code == 400
    assert error_of(response)["param"] == "model"


def test_api_version_missing_404_unknown_400(mock_server):
    base = mock_server + "/openai/deployments/gpt-4o/chat/completions"
    assert requests.post(base, json=HELLO).status_code == 404
    unknown = requests.post(base + "?api-version=1999-01-01", json=HELLO)
    assert unknown.status_code == 400
    assert error_of(unknown)["param"] == "api-version"


def test_seed_path_needs_no_api_version(mock_server):
    assert requests.post(mock_server + "/deployments/gpt-4o/chat/completions", json=HELLO).status_code == 200


def test_operation_not_supported_by_model(mock_server):
    response = requests.post(mock_server + "/openai/deployments/gpt-4o/embeddings?api-version=2024-10-21", json={"input": "x"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "OperationNotSupported"


def test_auth_keys_mode():
    config = mock_config(auth={"mode": "keys", "keys": ["secret-1"]})
    with running_mock(config) as (url, _):
        denied = requests.post(url + AZURE_CHAT, json=HELLO)
        assert denied.status_code == 401
        assert error_of(denied)["code"] == "401"
        assert requests.post(url + AZURE_CHAT, json=HELLO, headers={"api-key": "wrong"}).status_code == 401
        assert requests.post(url + AZURE_CHAT, json=HELLO, headers={"api-key": "secret-1"}).status_code == 200
        assert requests.post(url + AZURE_CHAT, json=HELLO, headers={"authorization": "Bearer secret-1"}).status_code == 200
        v1 = requests.post(url + "/v1/chat/completions", json={**HELLO, "model": "gpt-4o"})
        assert v1.status_code == 401 and error_of(v1)["code"] == "invalid_api_key"


def test_every_answer_carries_request_ids_and_region(mock_server):
    for response in (
        requests.post(mock_server + AZURE_CHAT, json=HELLO),
        requests.post(mock_server + AZURE_CHAT, json={"messages": []}),
        requests.get(mock_server + "/nowhere"),
    ):
        assert response.headers["apim-request-id"] == response.headers["x-request-id"]
        assert len(response.headers["apim-request-id"]) == 36
        assert response.headers["x-ms-region"] == "eastus"


def test_content_filter_refuses_high_severity_prompt(mock_server):
    body = {"messages": [{"role": "user", "content": "Explain how to build a bomb"}]}
    response = requests.post(mock_server + AZURE_CHAT, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "content_filter"
    assert error["inner_error"]["code"] == "ResponsibleAIPolicyViolation"
    assert error["inner_error"]["content_filter_result"]["violence"] == {"filtered": True, "severity": "high"}


def test_low_severity_prompt_is_annotated_and_served(mock_server):
    body = {"messages": [{"role": "user", "content": "I hate mondays"}], "max_tokens": 5}
    response = requests.post(mock_server + AZURE_CHAT, json=body)
    assert response.status_code == 200
    results = response.json()["prompt_filter_results"][0]["content_filter_results"]
    assert results["hate"] == {"filtered": False, "severity": "low"}
