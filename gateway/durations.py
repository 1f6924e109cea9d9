"""Durations as API Management writes them (ISO 8601, ``PT1M``) or as plain seconds."""

import re

_ISO = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


def parse_duration(value: object) -> float:
    """Seconds from ``PT10S`` / ``PT1M30S`` / ``P1D`` / ``10`` / ``"10s"`` / ``"500ms"``; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value}")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip()
    match = _ISO.match(text)
    if match and text not in ("P", "PT"):
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return parts.get("d", 0) * 86400 + parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    for suffix, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)):
        if text.endswith(suffix):
            try:
                number = float(text[: -len(suffix)])
            except ValueError:
                break
            if number >= 0:
                return number * scale
    raise ValueError(f"not a duration: {value!r} (use seconds, '10s', '500ms' or ISO 8601 like 'PT1M')")
