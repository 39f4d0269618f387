"""PostgreSQL compresses the resources' JSON with LZ4 instead of its default pglz: every resource is written twice
(current and history), and the large ones (an ISNCSCI panel is 10-40 kB) are compressed each time; LZ4 costs the
server less CPU to compress and to read back. Values already stored keep their compression (both are read alike).

Only where the server can (PostgreSQL 14 or later, built with LZ4); elsewhere, and on SQLite, nothing changes.

Revision ID: 0007_lz4_content
Revises: 0006_resource_position
"""

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0007_lz4_content"
down_revision = "0006_resource_position"
branch_labels = None
depends_on = None

TABLES = ("fb_resource", "fb_resource_version")


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or bind.dialect.server_version_info < (14,):
        return
    try:
        with bind.begin_nested():  # a server built without LZ4 refuses it: keep what it has
            for table in TABLES:
                bind.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN content SET COMPRESSION {method}")
    except DBAPIError:
        pass


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("pglz")
