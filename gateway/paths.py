"""One canonical form of a request path, decided before routing — so every later step sees the same path.

Why: routing, auth, limits and the cache all decide on the path, and the backend decides again on what it
receives. If the two readings differ (``/openai/../_mock/config`` is ``/openai/...`` to a prefix match and
``/_mock/config`` to the backend once it normalises), every policy can be bypassed by the path. So the
gateway canonicalises the *raw* path once (the ASGI ``raw_path``: uvicorn's ``path`` is already
percent-decoded, ``%2F`` included) and from then on routes, matches operations, labels metrics and
forwards only that form:

1. ASCII only; control characters (NUL included), spaces and backslashes (raw or ``%5C``) are refused.
2. Percent-encoded *unreserved* characters (RFC 3986 §2.3: letters, digits, ``-._~``) are decoded —
   ``%2e%2E`` is ``..``; any other escape is kept, with upper-case hex. An encoded slash (``%2F``) or NUL
   (``%00``) is refused, and so is an encoded percent sign followed by two hex digits (``%252e``: double
   encoding, which a backend that decodes twice would read as a dot segment).
3. Empty segments are merged (``//`` → ``/``, as nginx's ``merge_slashes``), and dot segments removed
   (RFC 3986 §5.2.4) — but a ``..`` that would climb above the root, or above the path prefix of the
   API the path was addressed to (``/openai/..``), is refused rather than resolved: it can only be an
   attempt to leave the API.
   Segment parameters (``;v=1``, ``..;``) are refused: servers disagree on them (Tomcat and Jetty strip
   them, and so read ``..;`` as ``..`` and ``gpt-4o;x`` as ``gpt-4o``), which is exactly the kind of
   disagreement a bypass is made of, and no API here uses them (an encoded ``%3B`` stays data).
4. Characters outside RFC 3986's ``pchar`` set are percent-encoded, so the result can be sent upstream
   verbatim (``yarl.URL(..., encoded=True)``): the backend receives exactly the path the gateway judged.

A refusal is a ``PathRefused`` with a reason for the client; the gateway answers it with 400 before
authentication, limits or forwarding.
"""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import quote

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# RFC 3986 pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; plus "/" between segments.
_PCHAR = _UNRESERVED | frozenset(b"!$&'()*+,;=:@/%")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
MAX_PATH_BYTES = 8192


class PathRefused(ValueError):
    """The path cannot be canonicalised safely; ``str()`` says why, for the client."""


def canonical_path(raw: bytes, floor_of: Callable[[str], int] | None = None) -> str:
    """The canonical form of ``raw`` (the path exactly as received, without the query).

    ``floor_of(decoded_path)`` gives the number of leading segments a ``..`` may not climb above —
    the segments of the API prefix the path was addressed to (the router knows them); without it,
    only the root is a floor.
    """
    if not raw.startswith(b"/"):
        raise PathRefused("The request path must start with '/'.")
    if len(raw) > MAX_PATH_BYTES:
        raise PathRefused(f"The request path is longer than {MAX_PATH_BYTES} bytes.")
    decoded = _decode_unreserved(raw)
    trailing = decoded.endswith("/") and decoded != "/"
    segments = [s for s in decoded.split("/") if s]
    for segment in segments:
        if ";" in segment:
            kind = "a dot segment with parameters" if segment.split(";", 1)[0] in (".", "..") else "a segment with ';' parameters"
            raise PathRefused(f"The path segment {segment!r} is {kind}: encode ';' as %3B if it is data.")
    floor = floor_of("/" + "/".join(segments)) if floor_of is not None else 0
    kept: list[str] = []
    for index, segment in enumerate(segments):
        if segment == ".":
            trailing = index == len(segments) - 1 or trailing
            continue
        if segment == "..":
            if len(kept) <= floor:
                where = "the root" if floor == 0 else "the API's path prefix /" + "/".join(kept[:floor])
                raise PathRefused(f"The path climbs above {where} with '..'.")
            kept.pop()
            trailing = index == len(segments) - 1 or trailing
            continue
        kept.append(segment)
    path = "/" + "/".join(kept)
    return path + "/" if trailing and kept else path


def _decode_unreserved(raw: bytes) -> str:
    for byte in raw:
        if byte < 0x21 or byte > 0x7E:
            raise PathRefused("The request path contains a control character, a space or a non-ASCII byte; "
                              "percent-encode it.")
        if byte == 0x5C:
            raise PathRefused("The request path contains a backslash.")
    index = raw.find(b"%")
    while index >= 0:  # every '%' must start a valid escape
        if len(raw) < index + 3 or raw[index + 1] not in _HEX or raw[index + 2] not in _HEX:
            raise PathRefused("The request path contains a malformed percent-encoding ('%' without two hex digits).")
        index = raw.find(b"%", index + 3)

    def decode(match: re.Match) -> bytes:
        value = int(match.group(1), 16)
        if value == 0x2F:
            raise PathRefused("The request path contains an encoded slash (%2F).")
        if value == 0x5C:
            raise PathRefused("The request path contains an encoded backslash (%5C).")
        if value == 0x00:
            raise PathRefused("The request path contains an encoded NUL (%00).")
        if value == 0x25:
            rest = raw[match.end(): match.end() + 2]
            if len(rest) == 2 and rest[0] in _HEX and rest[1] in _HEX:
                raise PathRefused("The request path is percent-encoded twice (%25 followed by an escape).")
        if value in _UNRESERVED:
            return bytes((value,))
        return b"%" + match.group(1).upper()

    decoded = _ESCAPE.sub(decode, raw) if b"%" in raw else raw
    if any(byte not in _PCHAR for byte in decoded):
        decoded = b"".join(bytes((b,)) if b in _PCHAR else b"%%%02X" % b for b in decoded)
    return decoded.decode("ascii")


def raw_path_of(scope: dict) -> bytes:
    """The path as received: ASGI's ``raw_path`` when the server gives it, else ``path`` re-encoded."""
    raw = scope.get("raw_path")
    if raw:
        return bytes(raw).split(b"?", 1)[0]
    return quote(scope.get("path") or "/", safe="/:@!$&'()*+,;=-._~").encode("ascii")
