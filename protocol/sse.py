"""Server-sent events as the OpenAI streaming APIs frame them.

Every event is ``data: <payload>\\n\\n`` and the stream ends with ``data: [DONE]\\n\\n``. The decoder
follows the WHATWG rules (``\\r\\n``/``\\r``/``\\n`` line ends, multi-line ``data``, comments, ``event``
fields) because a contract test must judge *other* servers' framing, not only ours.
"""

from dataclasses import dataclass

DONE = "[DONE]"
DONE_EVENT = b"data: [DONE]\n\n"


def encode_event(data: bytes) -> bytes:
    """Frame one JSON payload (already serialised, without newlines) as an SSE event."""
    return b"data: " + data + b"\n\n"


def encode_error_event(data: bytes) -> bytes:
    """An ``event: error`` frame, used to end a stream that fails after bytes were sent."""
    return b"event: error\ndata: " + data + b"\n\n"


@dataclass(frozen=True)
class Event:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental decoder: feed bytes as they arrive, collect whole events.

    Besides the events it records framing faults a strict client cares about — data after
    ``[DONE]`` and a truncated final event — so checks can report them precisely.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._pending = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.events: list[Event] = []

    def feed(self, chunk: bytes) -> list[Event]:
        """Decode ``chunk``; returns the events completed by it."""
        self._pending += chunk
        try:
            text = self._pending.decode("utf-8")
            self._pending = b""
        except UnicodeDecodeError as exc:
            # Keep an incomplete multi-byte sequence for the next chunk.
            text = self._pending[: exc.start].decode("utf-8")
            self._pending = self._pending[exc.start :]
            if len(self._pending) > 4:
                raise ValueError("event stream is not valid UTF-8") from exc
        self._buffer += text
        completed: list[Event] = []
        while True:
            line, sep, rest = _split_line(self._buffer)
            if not sep:
                break
            self._buffer = rest
            event = self._line(line)
            if event is not None:
                completed.append(event)
        self.events.extend(completed)
        return completed

    @property
    def has_partial_event(self) -> bool:
        """True when bytes of an unfinished event remain (a stream cut mid-event)."""
        return bool(self._buffer.strip() or self._data or self._pending)

    def _line(self, line: str) -> Event | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = Event("\n".join(self._data), self._event or "message", self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        return None


def _split_line(buffer: str) -> tuple[str, str, str]:
    """Split off the first line, whatever its terminator; ("", "", buffer) when none is complete."""
    lf = buffer.find("\n")
    cr = buffer.find("\r", 0, lf if lf >= 0 else len(buffer))
    if cr < 0:
        if lf < 0:
            return "", "", buffer
        return buffer[:lf], "\n", buffer[lf + 1 :]
    if cr + 1 == len(buffer):
        return "", "", buffer  # may be the first half of \r\n: wait for more
    sep = "\r\n" if buffer[cr + 1] == "\n" else "\r"
    return buffer[:cr], sep, buffer[cr + len(sep) :]


def decode_all(body: bytes) -> list[Event]:
    """Decode a whole buffered stream."""
    decoder = SSEDecoder()
    decoder.feed(body)
    return decoder.events
