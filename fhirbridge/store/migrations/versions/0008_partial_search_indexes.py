"""The search indexes hold only the rows they serve: a date row (``low`` set, ``value`` NULL) is no longer written
into the token indexes, nor a token, reference or string row (``value`` set, ``low`` NULL) into the date indexes,
and the indexes of a code in its resource's date order hold only rows that carry the date key. Each search row was
written into six indexes; now into three or four, and the database's CPU of an ingest is mostly that upkeep.

The ``patient`` parameter of the types whose ``patient`` is their ``subject`` (or ``individual``) to a Patient is
answered from that parameter's rows whose system is Patient (``search_params.stored_as``): its own rows, one
search row in nine of a study's, are deleted.

The per-resource index stays whole: deleting or replacing a resource's rows looks them up there. Searches name
the kind of row they read (``search_query.held``) so that the planner may use these indexes.

Revision ID: 0008_partial_search_indexes
Revises: 0007_lz4_content
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_partial_search_indexes"
down_revision = "0007_lz4_content"
branch_labels = None
depends_on = None

TABLE = "fb_search_value"
#: name → (columns, the rows it holds) at this revision
INDEXES = {
    "ix_fb_search_value_token_id": (["resource_type", "param", "value", "resource_id", "system"],
                                    "value IS NOT NULL"),
    "ix_fb_search_value_date_low": (["resource_type", "param", "low", "resource_id", "high"], "low IS NOT NULL"),
    "ix_fb_search_value_date_high": (["resource_type", "param", "high", "resource_id", "low"], "low IS NOT NULL"),
    "ix_fb_search_value_token_date_low": (["resource_type", "param", "value", "date_low", "resource_id", "system"],
                                          "date_low IS NOT NULL"),
    "ix_fb_search_value_token_date_high": (["resource_type", "param", "value", "date_high", "resource_id", "system"],
                                           "date_high IS NOT NULL"),
}

#: per type, the parameter whose rows hold its ``patient`` at this revision (those whose system is Patient)
PATIENT_WITHIN = {"ResearchSubject": "individual", "Condition": "subject", "Observation": "subject",
                  "Procedure": "subject"}
COLUMNS = ("resource_type", "resource_id", "param", "system", "value", "low", "high", "date_low", "date_high")


def upgrade() -> None:
    rows = sa.table(TABLE, *(sa.column(c) for c in COLUMNS))
    op.execute(rows.delete().where(rows.c.param == "patient", rows.c.resource_type.in_(list(PATIENT_WITHIN))))
    for name, (columns, rows) in INDEXES.items():
        op.drop_index(name, TABLE)
        op.create_index(name, TABLE, columns, sqlite_where=sa.text(rows), postgresql_where=sa.text(rows))


def downgrade() -> None:
    for name, (columns, _rows) in INDEXES.items():
        op.drop_index(name, TABLE)
        op.create_index(name, TABLE, columns)
    rows = sa.table(TABLE, *(sa.column(c) for c in COLUMNS))
    for rtype, param in PATIENT_WITHIN.items():
        copied = [sa.literal("patient") if c == "param" else rows.c[c] for c in COLUMNS]
        op.execute(rows.insert().from_select(list(COLUMNS), sa.select(*copied).where(
            rows.c.resource_type == rtype, rows.c.param == param, rows.c.system == "Patient")))
