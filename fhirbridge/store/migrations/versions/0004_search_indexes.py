"""Search indexes that answer from the index alone and in the order a page needs: token and reference entries
carry the resource id and then the system (a code's or a reference's entries come in id order, so a page by id is
read along them and stops early; a per-resource probe is an index lookup), date entries carry the resource id
after the start or the end (a sort by date walks them in key order), and the per-resource index carries the date
range (whether another date of the same resource beats the one walked is an index lookup).

Revision ID: 0004_search_indexes
Revises: 0003
"""

from alembic import op

revision = "0004_search_indexes"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "fb_search_value"
#: name → columns, before and after
BEFORE = {"ix_fb_search_value_token": ["resource_type", "param", "value"],
          "ix_fb_search_value_date": ["resource_type", "param", "low", "high"],
          "ix_fb_search_value_resource_param": ["resource_type", "resource_id", "param"]}
AFTER = {"ix_fb_search_value_token_id": ["resource_type", "param", "value", "resource_id", "system"],
         "ix_fb_search_value_date_low": ["resource_type", "param", "low", "resource_id", "high"],
         "ix_fb_search_value_date_high": ["resource_type", "param", "high", "resource_id", "low"],
         "ix_fb_search_value_resource_dates": ["resource_type", "resource_id", "param", "low", "high"]}


def upgrade() -> None:
    for name, columns in AFTER.items():
        op.create_index(name, TABLE, columns)
    for name in BEFORE:
        op.drop_index(name, TABLE)


def downgrade() -> None:
    for name, columns in BEFORE.items():
        op.create_index(name, TABLE, columns)
    for name in AFTER:
        op.drop_index(name, TABLE)
