"""The common shape of every hub record."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fhirbridge.records.source import SourceLocation


class Record(BaseModel):
    """A domain record: typed, validated on construction, and aware of where it came from.

    ``source`` is excluded from equality so that a record read back from another format equals the one
    that was written, wherever each came from.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=False, str_strip_whitespace=True)

    source: SourceLocation | None = Field(default=None, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Record) or type(other) is not type(self):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def key(self) -> tuple[str, ...]:
        """What identifies this record among the records of its kind (used for duplicates and ids)."""
        raise NotImplementedError


class SubjectRecord(Record):
    """A record that belongs to one subject of one study."""

    study_id: str = Field(min_length=1)
    subject_id: str = Field(min_length=1)
