"""The bare Locust generator for bench/load.py: one FastHttpUser posting a fixed chat request, no waits,
no bookkeeping beyond Locust's own statistics. Run by bench/load.py as `python -m locust -f` (never imported)."""

from locust import FastHttpUser, task

BODY = b'{"model":"gpt-4o","messages":[{"role":"user","content":"Hello, how are you?"}],"max_tokens":20}'
HEADERS = {"content-type": "application/json"}


class BareChatUser(FastHttpUser):
    wait_time = staticmethod(lambda: 0)  # noqa: E731  as fast as the worker can

    @task
    def chat(self) -> None:
        self.client.post("/v1/chat/completions", data=BODY, headers=HEADERS, name="chat")
