"""Error bodies as the real services send them.

Azure OpenAI and OpenAI answer every 4xx/5xx with ``{"error": {"code", "message", "param", "type"}}``
(Azure adds ``inner_error`` for content filtering); API Management's own gateway errors use
``{"statusCode", "message"}``. Clients (the openai SDK included) branch on these shapes, so they are
built in one place.
"""

from typing import Any

import orjson

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
RATE_LIMIT_TYPE = "rate_limit_exceeded"

# The message Azure OpenAI sends for a missing or wrong key (facts file §1).
AZURE_ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
    "valid key for an active subscription and use a correct regional API endpoint for your resource."
)


def error_body(
    message: str,
    *,
    code: str | None = None,
    type: str | None = None,
    param: str | None = None,
    inner_error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAI/Azure error envelope; every key present so clients never meet a missing field."""
    error: dict[str, Any] = {"code": code, "message": message, "param": param, "type": type}
    if inner_error is not None:
        error["inner_error"] = inner_error
    return {"error": error}


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    """400 body for a request the API rejects (bad JSON, schema violation, unknown argument)."""
    return error_body(message, code=code or INVALID_REQUEST, type=INVALID_REQUEST, param=param)


def unrecognized_argument(name: str) -> dict[str, Any]:
    return invalid_request(f"Unrecognized request argument supplied: {name}", param=name)


def azure_status_error(status: int, message: str) -> dict[str, Any]:
    """Azure's terse form for errors raised before the model sees the request (401, 404, 429 ...)."""
    return error_body(message, code=str(status))


def rate_limited(operation: str, api_version: str, retry_after_s: int, kind: str = "token") -> dict[str, Any]:
    """Azure's 429 body, naming the operation and the wait, as clients log it verbatim."""
    message = (
        f"Requests to the {operation} Operation under Azure OpenAI API version {api_version} have "
        f"exceeded {kind} rate limit of your current OpenAI S0 pricing tier. Please retry after "
        f"{retry_after_s} second{'s' if retry_after_s != 1 else ''}. Please go here: "
        "https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
    )
    return error_body(message, code="429", type=RATE_LIMIT_TYPE)


def content_filtered(filter_result: dict[str, Any]) -> dict[str, Any]:
    """400 body for a prompt that trips Azure's content filter."""
    return error_body(
        "The response was filtered due to the prompt triggering Azure OpenAI's content management "
        "policy. Please modify your prompt and retry.",
        code="content_filter",
        type=None,
        param="prompt",
        inner_error={"code": "ResponsibleAIPolicyViolation", "content_filter_result": filter_result},
    )


def server_error(message: str = "The server had an error while processing your request. Sorry about that!") -> dict[str, Any]:
    return error_body(message, code=SERVER_ERROR, type=SERVER_ERROR)


def apim_error(status: int, message: str) -> dict[str, Any]:
    """API Management's gateway-generated error body (rate-limit-by-key, missing key, ...)."""
    return {"statusCode": status, "message": message}


def dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
