"""The tables of the store. Changes to them are made by a new Alembic migration, never by editing these alone.

Every resource is kept whole as JSON text (exactly as it is served, meta.versionId and meta.lastUpdated included),
so that reads and exports need no assembly; what searches and conditional creates look at is copied into the
identifier and search tables when a version is written.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, false, text

metadata = MetaData()

#: The current version of every resource.
resource = Table(
    "fb_resource",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", String(40), nullable=False),  # ISO 8601 instant in UTC; sorts as text
    # Where the resource was first stored among all (its bundle entry after those stored before): exports keep
    # the order of the bundles, so that reading an export back gives the records in their original order.
    Column("position", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),  # of the content without versionId and lastUpdated
    Column("content", Text, nullable=False),
    # each ingest numbers its entries after the highest position stored: max() reads one index entry, not the
    # table (migration 0006)
    Index("ix_fb_resource_position", "position"),
)

#: Every version ever stored, the current one included; a deletion is a version too (``deleted``, with only
#: resourceType, id and meta as content), so that history shows it and a later create continues the numbering.
resource_version = Table(
    "fb_resource_version",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("last_updated", String(40), nullable=False),
    Column("content", Text, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default=false()),
)

#: Business identifiers: which resource holds ``system|value``; the first resource to claim one keeps it.
identifier = Table(
    "fb_identifier",
    metadata,
    Column("resource_type", String(64), primary_key=True),
    Column("system", String(), primary_key=True),
    Column("value", String(), primary_key=True),
    Column("resource_id", String(64), nullable=False),
)

#: The rows of tokens, references and strings (``value`` set), and those of dates (``low`` and ``high`` set).
TOKEN_ROWS, DATE_ROWS = "value IS NOT NULL", "low IS NOT NULL"


def _partial(name: str, rows: str, *columns: str) -> Index:
    """An index over the rows that meet the condition ``rows`` only, on SQLite and PostgreSQL alike."""
    return Index(name, *columns, sqlite_where=text(rows), postgresql_where=text(rows))


#: Search parameter values of current versions: tokens and references in system/value, dates as a range.
search_value = Table(
    "fb_search_value",
    metadata,
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("param", String(64), nullable=False),
    Column("system", String()),
    Column("value", String()),
    Column("low", String(40)),
    Column("high", String(40)),
    # On every row but the dates', the sort keys of the resource's date (``search_params.sorted_date``): its
    # earliest start and its latest end, NULL when it has none (migration 0005)
    Column("date_low", String(40)),
    Column("date_high", String(40)),
    # Each search reads the index alone (migration 0003): tokens and references with system and resource id;
    # dates from either end of their range; a resource's values of one parameter (deletes, sort keys) with the
    # date range, so that sorting by a date needs no table row. Each index but the per-resource one holds only
    # the kind of row it serves (migration 0008): ``TOKEN_ROWS`` (value set, low NULL) or ``DATE_ROWS`` (low set,
    # value NULL); a search says which (``search_query.held``) so that the planner may use them.
    _partial("ix_fb_search_value_token_id", TOKEN_ROWS, "resource_type", "param", "value", "resource_id", "system"),
    _partial("ix_fb_search_value_date_low", DATE_ROWS, "resource_type", "param", "low", "resource_id", "high"),
    _partial("ix_fb_search_value_date_high", DATE_ROWS, "resource_type", "param", "high", "resource_id", "low"),
    Index("ix_fb_search_value_resource_dates", "resource_type", "resource_id", "param", "low", "high"),
    # a code's (a reference's) entries in the order of their resource's date: a page of a code sorted by date is
    # one range of the index, read in order (migration 0005); only the entries that carry a key
    _partial("ix_fb_search_value_token_date_low", "date_low IS NOT NULL", "resource_type", "param", "value",
             "date_low", "resource_id", "system"),
    _partial("ix_fb_search_value_token_date_high", "date_high IS NOT NULL", "resource_type", "param", "value",
             "date_high", "resource_id", "system"),
)

#: Background jobs (bulk exports, SDTM exports, imports): their whole state, so that any service process may run
#: them and a restarted one takes up what was left. A worker owns a job while ``lease_until`` is in the future.
job = Table(
    "fb_job",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),  # export, export-sdtm, import
    Column("state", String(16), nullable=False),  # queued, running, done, failed, cancelled
    Column("request", Text, nullable=False),  # the kick-off URL, as the manifest repeats it
    Column("params", Text, nullable=False),  # JSON: what to do
    Column("owner", String(64)),  # who asked (authenticated client), for the audit log and access checks
    Column("created", String(40), nullable=False),
    Column("transaction_time", String(40)),
    Column("lease_until", String(40)),
    Column("worker", String(64)),
    Column("progress", String(200)),
    Column("result", Text),  # JSON: the manifest, or the import's report
    Index("ix_fb_job_state", "state", "created"),
)

#: Who did what, when: one row per write and per export (the AuditEvent of a registry).
audit = Table(
    "fb_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recorded", String(40), nullable=False),
    Column("agent", String(200), nullable=False),  # the API key's name or the token's subject, never a secret
    Column("action", String(8), nullable=False),  # C, R, U, D, E as AuditEvent.action
    Column("what", String(200), nullable=False),  # route and operation, never identifiers of patients
    Column("outcome", Integer, nullable=False),  # HTTP status
    Column("request_id", String(36), nullable=False),
    Column("detail", Text),  # e.g. the number of resources written or exported
    Index("ix_fb_audit_recorded", "recorded"),
)
