"""Deletions kept in the history; the search index rebuilt for the parameters added with the FHIR REST API, and
indexed by (type, resource, parameter) so that sorting by a parameter looks up each resource's value directly.

Revision ID: 0002_rest
Revises: 0001
"""

import orjson
import sqlalchemy as sa
from alembic import op

from fhirbridge.store.search_params import index_values

revision = "0002_rest"
down_revision = "0001"
branch_labels = None
depends_on = None

#: Resources read and re-indexed per round.
BATCH = 1000


def upgrade() -> None:
    op.add_column("fb_resource_version", sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.drop_index("ix_fb_search_value_resource", "fb_search_value")
    op.create_index("ix_fb_search_value_resource_param", "fb_search_value", ["resource_type", "resource_id", "param"])
    _reindex()


def _reindex() -> None:
    """Every stored resource's search values, computed again by the current definitions of the parameters."""
    conn = op.get_bind()
    resource = sa.table("fb_resource", sa.column("resource_type"), sa.column("id"), sa.column("content"))
    search_value = sa.table("fb_search_value", *(sa.column(c) for c in ("resource_type", "resource_id", "param",
                                                                       "system", "value", "low", "high")))
    conn.execute(search_value.delete())
    last = ("", "")
    while True:
        rows = conn.execute(sa.select(resource.c.resource_type, resource.c.id, resource.c.content)
                            .where(sa.tuple_(resource.c.resource_type, resource.c.id) > sa.tuple_(*map(sa.literal,
                                                                                                       last)))
                            .order_by(resource.c.resource_type, resource.c.id).limit(BATCH)).all()
        if not rows:
            return
        values = [{"resource_type": r.resource_type, "resource_id": r.id, "param": v.param, "system": v.system,
                   "value": v.value, "low": v.low, "high": v.high}
                  for r in rows for v in index_values(orjson.loads(r.content))]
        if values:
            conn.execute(search_value.insert(), values)
        last = (rows[-1].resource_type, rows[-1].id)


def downgrade() -> None:
    op.drop_index("ix_fb_search_value_resource_param", "fb_search_value")
    op.create_index("ix_fb_search_value_resource", "fb_search_value", ["resource_type", "resource_id"])
    with op.batch_alter_table("fb_resource_version") as batch:
        batch.drop_column("deleted")
