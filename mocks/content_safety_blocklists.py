"""Azure AI Content Safety text blocklists: an in-memory store seeded from the mock config.

Blocklists from ``content_safety.blocklists`` exist from the start; the blocklist management API can
create, change and delete more at run time (per worker process, like all mock state). Matching follows
the service: a plain item matches case-insensitively anywhere in the text, an ``isRegex`` item is a
case-insensitive regular expression. Item ids are UUIDs derived from (blocklist, text), so adding the
same text again updates the item instead of duplicating it, and ids are stable across runs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from aigw.mocks.content_classifier import BlocklistConfig, BlocklistItemConfig

_NAMESPACE = uuid.UUID("6f1c2f4e-5b0d-4c1e-9a57-0c3e2b7d9a10")
NAME_PATTERN = re.compile(r"^[0-9A-Za-z._~-]{1,64}$")


def item_id(blocklist: str, text: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{blocklist}\x00{text}"))


@dataclass
class Item:
    id: str
    text: str
    description: str | None = None
    is_regex: bool = False
    pattern: re.Pattern | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"blocklistItemId": self.id, "text": self.text}
        if self.description is not None:
            out["description"] = self.description
        if self.is_regex:
            out["isRegex"] = True
        return out

    def matches(self, text: str, lowered: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        return self.text.lower() in lowered


@dataclass
class Blocklist:
    name: str
    description: str | None = None
    items: dict[str, Item] = field(default_factory=dict)  # id → item, in insertion order

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"blocklistName": self.name}
        if self.description is not None:
            out["description"] = self.description
        return out


def make_item(blocklist: str, text: str, description: str | None, is_regex: bool, given_id: str | None = None) -> Item:
    """An item; raises ``re.error`` for an ``isRegex`` text that does not compile."""
    pattern = re.compile(text, re.IGNORECASE) if is_regex else None
    return Item(given_id or item_id(blocklist, text), text, description, is_regex, pattern)


class BlocklistStore:
    def __init__(self, configured: dict[str, BlocklistConfig]) -> None:
        self.configured = configured
        self.reset()

    def reset(self) -> None:
        self.lists: dict[str, Blocklist] = {}
        for name, config in self.configured.items():
            blocklist = self.lists[name] = Blocklist(name, config.description)
            for entry in config.items:
                item = entry if isinstance(entry, BlocklistItemConfig) else BlocklistItemConfig(text=entry)
                made = make_item(name, item.text, item.description, item.is_regex, item.id)
                blocklist.items[made.id] = made

    def get(self, name: str) -> Blocklist | None:
        return self.lists.get(name)

    def upsert(self, name: str, description: str | None) -> tuple[Blocklist, bool]:
        """Create or update; returns (blocklist, created)."""
        existing = self.lists.get(name)
        if existing is not None:
            if description is not None:
                existing.description = description
            return existing, False
        created = self.lists[name] = Blocklist(name, description)
        return created, True

    def delete(self, name: str) -> None:
        self.lists.pop(name, None)

    def matches(self, names: list[str], text: str) -> list[dict[str, str]]:
        """``blocklistsMatch`` entries of ``text`` against the named blocklists, in their order."""
        lowered = text.lower()
        found = []
        for name in names:
            for item in self.lists[name].items.values():
                if item.matches(text, lowered):
                    found.append({"blocklistName": name, "blocklistItemId": item.id, "blocklistItemText": item.text})
        return found
