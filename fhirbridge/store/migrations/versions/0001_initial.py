"""The first schema: current resources, their versions, identifiers and search values.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fb_resource",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("last_updated", sa.String(40), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "fb_resource_version",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("version_id", sa.Integer, primary_key=True),
        sa.Column("last_updated", sa.String(40), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
    )
    op.create_table(
        "fb_identifier",
        sa.Column("resource_type", sa.String(64), primary_key=True),
        sa.Column("system", sa.String(), primary_key=True),
        sa.Column("value", sa.String(), primary_key=True),
        sa.Column("resource_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "fb_search_value",
        sa.Column("resource_type", sa.String(64), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("param", sa.String(64), nullable=False),
        sa.Column("system", sa.String()),
        sa.Column("value", sa.String()),
        sa.Column("low", sa.String(40)),
        sa.Column("high", sa.String(40)),
    )
    op.create_index("ix_fb_search_value_resource", "fb_search_value", ["resource_type", "resource_id"])
    op.create_index("ix_fb_search_value_token", "fb_search_value", ["resource_type", "param", "value"])
    op.create_index("ix_fb_search_value_date", "fb_search_value", ["resource_type", "param", "low", "high"])


def downgrade() -> None:
    op.drop_table("fb_search_value")
    op.drop_table("fb_identifier")
    op.drop_table("fb_resource_version")
    op.drop_table("fb_resource")
