"""The ``conformance`` fixture set: the tools, resources and prompts the official MCP conformance suite
(``@modelcontextprotocol/conformance``, ``server`` scenarios) calls, with the behaviour each scenario
checks — names and texts as the scenarios describe them.
"""

from typing import Any

import orjson

from aigw.mocks.mcp.fixtures import (
    FixtureSet, Prompt, PromptArgument, Resource, ResourceTemplate, Tool, ToolContext, ToolFailure, text_result,
)
from aigw.mocks.mcp.media import RED_PIXEL_PNG, TONE_WAV

NO_ARGS = {"type": "object", "properties": {}, "additionalProperties": False}


def _fixed(result: dict[str, Any]):
    async def handler(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
        return result
    return handler


async def _with_logging(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    for i, message in enumerate(["Tool execution started", "Tool processing data", "Tool execution completed"]):
        if i:
            await ctx.sleep(0.05)
        await ctx.log("info", message, "test_tool_with_logging")
    return text_result("Tool with logging executed successfully")


async def _error(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    raise ToolFailure("This tool intentionally returns an error for testing")


async def _with_progress(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    for i, value in enumerate((0, 50, 100)):
        if i:
            await ctx.sleep(0.05)
        await ctx.progress(value, 100, f"Completed step {i + 1} of 3")
    return text_result("Tool with progress executed successfully")


async def _sampling(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    if "sampling" not in ctx.client_capabilities:
        raise ToolFailure("The client does not support sampling (no sampling capability).")
    answer = await ctx.request("sampling/createMessage", {
        "messages": [{"role": "user", "content": {"type": "text", "text": args["prompt"]}}], "maxTokens": 100})
    content = answer.get("content")
    text = content.get("text") if isinstance(content, dict) else None
    return text_result(f"LLM response: {text if text is not None else orjson.dumps(content).decode()}")


async def _elicit(ctx: ToolContext, message: str, schema: dict[str, Any]) -> dict[str, Any]:
    if "elicitation" not in ctx.client_capabilities:
        raise ToolFailure("The client does not support elicitation (no elicitation capability).")
    answer = await ctx.request("elicitation/create", {"message": message, "requestedSchema": schema})
    return answer


async def _elicitation(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    answer = await _elicit(ctx, args["message"], {
        "type": "object", "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"}},
        "required": ["username", "email"]})
    return text_result(f"User response: action={answer.get('action')}, "
                       f"content={orjson.dumps(answer.get('content', {})).decode()}")


async def _elicitation_defaults(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    answer = await _elicit(ctx, "Please review and update the form fields with defaults", {
        "type": "object", "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"],
                       "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": True}}})
    return text_result(f"Elicitation completed: action={answer.get('action')}, "
                       f"content={orjson.dumps(answer.get('content', {})).decode()}")


async def _elicitation_enums(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    answer = await _elicit(ctx, "Please select options from the enum fields", {
        "type": "object", "properties": {
            "untitledSingle": {"type": "string", "description": "Select one option",
                               "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "description": "Select one option with titles", "oneOf": [
                {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"}]},
            "legacyEnum": {"type": "string", "description": "Select one option (legacy)",
                           "enum": ["opt1", "opt2", "opt3"], "enumNames": ["Option One", "Option Two", "Option Three"]},
            "untitledMulti": {"type": "array", "description": "Select multiple options",
                              "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
            "titledMulti": {"type": "array", "description": "Select multiple options with titles", "items": {"anyOf": [
                {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"},
                {"const": "value3", "title": "Third Choice"}]}}}})
    return text_result(f"Elicitation completed: action={answer.get('action')}, "
                       f"content={orjson.dumps(answer.get('content', {})).decode()}")


async def _reconnection(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    """Close the SSE stream mid-call (SEP-1699); the result arrives when the client resumes with GET."""
    await ctx.sleep(0.05)
    ctx.close_stream(retry_ms=500)
    await ctx.sleep(0.1)
    return text_result("Reconnection test completed")


async def _json_schema(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    return text_result(f"Received: {orjson.dumps(args, option=orjson.OPT_SORT_KEYS).decode()}")


MIXED_RESOURCE = {"uri": "test://mixed-content-resource", "mimeType": "application/json",
                  "text": '{"test":"data","value":123}'}
TOOLS = [
    Tool("test_simple_text", "Returns simple text content.", NO_ARGS,
         _fixed(text_result("This is a simple text response for testing."))),
    Tool("test_image_content", "Returns image content (a 1x1 red PNG).", NO_ARGS,
         _fixed({"content": [{"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"}]})),
    Tool("test_audio_content", "Returns audio content (a short WAV tone).", NO_ARGS,
         _fixed({"content": [{"type": "audio", "data": TONE_WAV, "mimeType": "audio/wav"}]})),
    Tool("test_embedded_resource", "Returns an embedded resource.", NO_ARGS,
         _fixed({"content": [{"type": "resource", "resource": {
             "uri": "test://embedded-resource", "mimeType": "text/plain",
             "text": "This is an embedded resource content."}}]})),
    Tool("test_multiple_content_types", "Returns text, image and resource content.", NO_ARGS,
         _fixed({"content": [{"type": "text", "text": "Multiple content types test:"},
                             {"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"},
                             {"type": "resource", "resource": MIXED_RESOURCE}]})),
    Tool("test_tool_with_logging", "Sends three info log messages while it runs.", NO_ARGS, _with_logging),
    Tool("test_error_handling", "Always fails with isError: true.", NO_ARGS, _error),
    Tool("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100.", NO_ARGS, _with_progress),
    Tool("test_sampling", "Asks the client's LLM (sampling/createMessage).", {
        "type": "object", "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
        "required": ["prompt"]}, _sampling),
    Tool("test_elicitation", "Asks the user for input (elicitation/create).", {
        "type": "object", "properties": {"message": {"type": "string", "description": "The message to show the user"}},
        "required": ["message"]}, _elicitation),
    Tool("test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type (SEP-1034).",
         NO_ARGS, _elicitation_defaults),
    Tool("test_elicitation_sep1330_enums", "Elicitation with the five enum schema variants (SEP-1330).",
         NO_ARGS, _elicitation_enums),
    Tool("test_reconnection", "Closes the SSE stream mid-call; the result follows on reconnection (SEP-1699).",
         NO_ARGS, _reconnection),
    Tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False}, _json_schema),
]


def _template(variables: dict[str, str], seed: int) -> list[dict[str, Any]]:
    item_id = variables["id"]
    return [{"uri": f"test://template/{item_id}/data", "mimeType": "application/json",
             "text": orjson.dumps({"id": item_id, "templateTest": True, "data": f"Data for ID: {item_id}"}).decode()}]


RESOURCES = [
    Resource("test://static-text", "static-text", "A static text resource.", "text/plain",
             text="This is the content of the static text resource."),
    Resource("test://static-binary", "static-binary", "A static binary resource (PNG).", "image/png",
             blob=RED_PIXEL_PNG),
    Resource("test://watched-resource", "watched-resource", "A resource to subscribe to.", "text/plain",
             text="Watched resource content."),
]
TEMPLATES = [ResourceTemplate("test://template/{id}/data", "template-data", "Data for an id.", "application/json",
                              _template)]


def _embedded(args: dict[str, str]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": {"type": "resource", "resource": {
                "uri": args["resourceUri"], "mimeType": "text/plain", "text": "Embedded resource content for testing."}}},
            {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}}]


PROMPTS = [
    Prompt("test_simple_prompt", "A simple prompt without arguments.", [],
           lambda args: [{"role": "user", "content": {"type": "text", "text": "This is a simple prompt for testing."}}]),
    Prompt("test_prompt_with_arguments", "A prompt with two required arguments.",
           [PromptArgument("arg1", "First test argument"), PromptArgument("arg2", "Second test argument")],
           lambda args: [{"role": "user", "content": {"type": "text", "text":
                          f"Prompt with arguments: arg1='{args['arg1']}', arg2='{args['arg2']}'"}}]),
    Prompt("test_prompt_with_embedded_resource", "A prompt that embeds a resource.",
           [PromptArgument("resourceUri", "URI of the resource to embed")], _embedded),
    Prompt("test_prompt_with_image", "A prompt with image content.", [],
           lambda args: [{"role": "user", "content": {"type": "image", "data": RED_PIXEL_PNG, "mimeType": "image/png"}},
                         {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}}]),
]

CONFORMANCE = FixtureSet(TOOLS, RESOURCES, TEMPLATES, PROMPTS, completions={
    ("ref/prompt", "test_prompt_with_arguments", "arg1"): ["paris", "park", "party", "test-value"],
    ("ref/prompt", "test_prompt_with_arguments", "arg2"): ["alpha", "beta", "gamma"],
    ("ref/resource", "test://template/{id}/data", "id"): ["123", "456", "789"],
})
