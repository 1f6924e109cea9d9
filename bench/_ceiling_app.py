"""The cheapest server uvicorn can run: it reads the request and answers a fixed chat-sized JSON body.

bench/mock.py measures the load generator against it. Nothing a real mock does can beat it on the same
core, so if the generator tops out near this figure, a mock figure close to it says more about the
generator than about the mock.
    python -m uvicorn --app-dir bench _ceiling_app:app --loop uvloop --http httptools --no-access-log
"""

BODY = (
    b'{"id":"chatcmpl-ceiling","object":"chat.completion","created":1700000000,"model":"gpt-4o",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"I am doing well, thank you for asking! '
    b'How can I help you today with your project?","refusal":null},"logprobs":null,"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":13,"completion_tokens":20,"total_tokens":33}}'
)
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}
RESPONSE_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return  # lifespan: nothing to set up
    more = True
    while more:  # drain the request so keep-alive stays in step
        message = await receive()
        more = message.get("more_body", False)
    await send(START)
    await send(RESPONSE_BODY)
