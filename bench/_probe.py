"""One request before each measurement: proof the server answers this scenario correctly, and what it sends.

It goes over a raw socket rather than an HTTP client so the transfer's shape stays visible: how many
chunked-encoding chunks (one per server write) and SSE events make up a stream, and how many bytes. That is
the cost a load generator pays per request, and what decides streams/s between two servers.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass


class ProbeError(RuntimeError):
    """The server's answer to the probe request was not a correct one."""


@dataclass
class Probe:
    status: int
    body_bytes: int
    http_chunks: int | None  # None when the body came with Content-Length
    sse_events: int | None = None
    content_events: int | None = None
    completion_tokens: int | None = None
    embedding_dimensions: int | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _exchange(host: str, port: int, path: str, body: bytes, timeout: float) -> tuple[int, dict[str, str], bytes]:
    request = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Authorization: Bearer bench-key\r\napi-key: bench-key\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n\r\n").encode() + body
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(request)
        received = bytearray()
        while chunk := conn.recv(65536):
            received += chunk
    head, _, rest = bytes(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, rest


def _dechunk(raw: bytes) -> tuple[bytes, int]:
    body, count, pos = bytearray(), 0, 0
    while True:
        line_end = raw.index(b"\r\n", pos)
        size = int(raw[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return bytes(body), count
        start = line_end + 2
        body += raw[start:start + size]
        count += 1
        pos = start + size + 2


def probe(base_url: str, path: str, body: bytes, *, stream: bool, timeout: float = 10.0) -> Probe:
    host, port = base_url.removeprefix("http://").split(":")
    status, headers, raw = _exchange(host, int(port), path, body, timeout)
    chunks = None
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raw, chunks = _dechunk(raw)
    if status != 200:
        raise ProbeError(f"POST {path} answered {status}: {raw[:400].decode(errors='replace')}")
    result = Probe(status=status, body_bytes=len(raw), http_chunks=chunks)
    if stream:
        events = [e[5:].strip() for e in raw.split(b"\n\n") if e.startswith(b"data:")]
        if not events or events[-1] != b"[DONE]":
            raise ProbeError(f"stream did not end with data: [DONE] (last bytes: {raw[-120:]!r})")
        result.sse_events = len(events)
        result.content_events = sum(
            1 for e in events[:-1] for c in json.loads(e).get("choices", []) if (c.get("delta") or {}).get("content")
        )
        return result
    document = json.loads(raw)
    if "usage" in document and "completion_tokens" in document["usage"]:
        result.completion_tokens = document["usage"]["completion_tokens"]
    if document.get("data") and "embedding" in document["data"][0]:
        result.embedding_dimensions = len(document["data"][0]["embedding"])
    return result
