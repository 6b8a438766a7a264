"""Neutron's tags (``standard-attr-tag``): a set of strings on each taggable record.

Tags live in the record itself, so a tag write is an ordinary record write: one store
transaction, a journal entry (the engine sees a port or group rewritten, which costs it
nothing), and, as Neutron's tag rows revise their standard attributes, a new
``revision_number`` and ``updated_at`` -- only when the set really changes, since
Neutron writes nothing for a tag it already has.  Tags are kept sorted, the order a
database returns them in by their key.  Validation and messages follow
neutron/extensions/tagging.py and neutron_lib's list-of-unique-strings validator.
"""
from __future__ import annotations

from typing import Any

from ryu_app.model.errors import BadRequest, InvalidInput, TagNotFound

TAGGABLE = ("network", "subnet", "port", "router", "floatingip", "security_group",
            "subnetpool")
MAX_TAG_LEN = 255
MAX_TAGS = 50


def check_tag(tag: Any) -> str:
    """One tag, as Neutron's validate_tag checks it (a string of at most 255)."""
    if not isinstance(tag, str):
        raise InvalidInput(f"Invalid input for operation: '{tag}' is not a valid string.")
    if len(tag) > MAX_TAG_LEN:
        raise InvalidInput(f"Invalid input for operation: '{tag}' exceeds maximum length "
                           f"of {MAX_TAG_LEN}.")
    return tag


def check_tags_body(body: Any) -> list[str]:
    """The tags of a ``{"tags": [...]}`` body: a list of unique strings."""
    if not isinstance(body, dict) or "tags" not in body:
        raise InvalidInput("Invalid input for operation: Invalid tags body.")
    tags = body["tags"]
    if not isinstance(tags, list):
        raise InvalidInput(f"Invalid input for operation: '{tags}' is not a list.")
    seen: set = set()
    duplicates: dict = {}     # keyed by a hashable form, so a long list costs linear time
    for tag in tags:
        key = _hashable(tag)
        if key in seen:
            duplicates.setdefault(key, tag)
        seen.add(key)
    if duplicates:   # reported before the items are checked, as neutron-lib does
        raise InvalidInput("Invalid input for operation: Duplicate items in the list: "
                           f"'{', '.join(map(str, duplicates.values()))}'.")
    return [check_tag(tag) for tag in tags]


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str) else (type(value).__name__, repr(value))


def _check_limit(kind: str, tags: set[str]) -> None:
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Bad {kind}s request: The number of tags exceed the per-resource "
                         f"limit of {MAX_TAGS}.", "BadRequest")


class Tags:
    """The tag operations of NetworkModel; ``get``, ``_updated`` and ``_commit_one`` are
    the model's own."""

    def _taggable(self, kind: str, resource_id: str) -> dict:
        if kind not in TAGGABLE:
            raise BadRequest(f"{kind}s have no tags.")
        return self.get(kind, resource_id)

    def get_tags(self, kind: str, resource_id: str) -> list[str]:
        return list(self._taggable(kind, resource_id)["tags"])

    def check_has_tag(self, kind: str, resource_id: str, tag: str) -> None:
        """Nothing if the resource has the tag; 404 TagNotFound if not."""
        check_tag(tag)
        if tag not in self._taggable(kind, resource_id)["tags"]:
            raise TagNotFound(tag=tag)

    def replace_tags(self, kind: str, resource_id: str, body: Any) -> list[str]:
        """PUT .../tags: the body's tags replace the resource's; Neutron answers with the
        tags as sent."""
        tags = check_tags_body(body)
        record = self._taggable(kind, resource_id)
        _check_limit(kind, set(tags))
        self._write_tags(kind, record, set(tags))
        return tags

    def add_tag(self, kind: str, resource_id: str, tag: str) -> None:
        check_tag(tag)
        record = self._taggable(kind, resource_id)
        tags = set(record["tags"]) | {tag}
        _check_limit(kind, tags)
        self._write_tags(kind, record, tags)

    def remove_tag(self, kind: str, resource_id: str, tag: str) -> None:
        check_tag(tag)
        record = self._taggable(kind, resource_id)
        if tag not in record["tags"]:
            raise TagNotFound(tag=tag)
        self._write_tags(kind, record, set(record["tags"]) - {tag})

    def remove_tags(self, kind: str, resource_id: str) -> None:
        self._write_tags(kind, self._taggable(kind, resource_id), set())

    def _write_tags(self, kind: str, record: dict, tags: set[str]) -> None:
        """Commit the new set, unless it is the one the record has."""
        if tags != set(record["tags"]):
            self._commit_one(kind, self._updated(record, {"tags": sorted(tags)}))
