"""Limits on what one search may ask for, checked before any query runs (configurable per service)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchLimits:
    #: Longest query string read, in bytes.
    max_query_bytes: int = 8192
    #: Most occurrences of one parameter (``code=a&code=b`` is two): each one is another join for the database.
    max_repeats: int = 10
    #: Most values in all (every comma-separated value of every parameter counted).
    max_values: int = 100
    #: Longest single value, in characters.
    max_value_length: int = 512
    #: Deepest ``_offset`` (keyset paging through ``next`` links has no such limit).
    max_offset: int = 10_000
    #: Most resources ``_include`` / ``_revinclude`` add to a page, and ``$everything`` returns.
    max_included: int = 1000
    max_everything: int = 10_000
