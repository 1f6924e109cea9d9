"""``aigw mock --selftest``: start the mock on a free port, exercise each operation, report, exit.

The first thing a new user runs: proves the install works end to end over real HTTP (not in-process)
and shows what the mock answers, in a few seconds.
"""

import random
import socket
import threading
import time

import orjson
import uvicorn
from rich.console import Console
from rich.table import Table

from aigw.mocks.app import MockApp
from aigw.mocks.config import MockConfig
from aigw.protocol.server_limits import ServerLimits, uvicorn_options
from aigw.protocol.sse import decode_all


def _free_port() -> int:
    """A free TCP port below Linux's ephemeral range (32768+).

    Ports handed out by the kernel (port 0, and the source port of every outgoing connection) come
    from that range, so a port chosen here cannot be taken by one of them between this check and the
    server binding it — which matters when the server starts in another process.
    """
    for _ in range(500):
        port = random.randrange(20000, 32768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port found in 20000-32767")


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # runs in a thread
        pass


def start_in_thread(app, port: int) -> _Server:
    """``app`` on 127.0.0.1:``port`` in a thread, with its own server limits (``server_limits``) in force."""
    limits = getattr(app, "server_limits", None) or ServerLimits()
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="on",
                                    **uvicorn_options(limits)))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the mock did not start within 10 s")
        time.sleep(0.02)
    return server


def _checks(config: MockConfig) -> list[tuple[str, str, dict, callable]]:
    chat = next(d.name for d in config.deployments if "chat" in d.operations)
    embed = next((d.name for d in config.deployments if "embeddings" in d.operations), None)
    azure = f"/openai/deployments/{chat}/chat/completions?api-version=2024-10-21"
    items = [
        ("chat (Azure path)", azure, {"messages": [{"role": "user", "content": "What is Azure API Management?"}], "max_tokens": 24},
         lambda r, b: (r == 200 and b["usage"]["total_tokens"] == b["usage"]["prompt_tokens"] + b["usage"]["completion_tokens"],
                       f"{b['choices'][0]['message']['content'][:60]}… usage={b['usage']['total_tokens']}") if r == 200 else (False, str(b))),
        ("chat stream (/v1)", "/v1/chat/completions",
         {"model": chat, "messages": [{"role": "user", "content": "Stream please"}], "max_tokens": 12, "stream": True,
          "stream_options": {"include_usage": True}}, None),
        ("invalid request → 400", azure, {"messages": [], "temperature": 3},
         lambda r, b: (r == 400 and "error" in b, f"{r} param={b.get('error', {}).get('param')}")),
    ]
    if embed:
        items.append(("embeddings", "/v1/embeddings", {"model": embed, "input": "hello world"},
                      lambda r, b: (r == 200 and len(b["data"][0]["embedding"]) > 0, f"{len(b['data'][0]['embedding'])} dims") if r == 200 else (False, str(b))))
    return items


def run_selftest(config: MockConfig) -> int:
    import urllib.request

    console = Console(stderr=True)
    config = MockConfig.model_validate({**config.model_dump(), "latency": "off"})
    port = _free_port()
    server = start_in_thread(MockApp(config), port)
    table = Table(title=f"aigw mock self-test on http://127.0.0.1:{port}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    ok = True
    try:
        for name, path, body, verdict in _checks(config):
            request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=orjson.dumps(body),
                                             headers={"content-type": "application/json", "api-key": (config.auth.keys or ["any"])[0]})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status, raw = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, raw = error.code, error.read()
            if verdict is None:
                events = decode_all(raw)
                chunks = [orjson.loads(e.data) for e in events if e.data != "[DONE]"]
                text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
                passed = status == 200 and events[-1].data == "[DONE]" and chunks[-1].get("usage") is not None
                detail = f"{len(events)} events, text={text[:40]!r}…"
            else:
                passed, detail = verdict(status, orjson.loads(raw))
            ok &= passed
            table.add_row(name, "[green]ok[/]" if passed else "[red]FAILED[/]", detail)
    finally:
        server.should_exit = True
    console.print(table)
    console.print("[green]self-test passed[/]" if ok else "[red]self-test failed[/]")
    return 0 if ok else 1
