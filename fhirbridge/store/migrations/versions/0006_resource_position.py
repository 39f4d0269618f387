"""An index on the resources' position: every ingest numbers its entries after the highest position stored, and
without an index ``max(position)`` reads the whole resource table, a cost that grows with the store.

Revision ID: 0006_resource_position
Revises: 0005_token_date_keys
"""

from alembic import op

revision = "0006_resource_position"
down_revision = "0005_token_date_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fb_resource_position", "fb_resource", ["position"])


def downgrade() -> None:
    op.drop_index("ix_fb_resource_position", "fb_resource")
