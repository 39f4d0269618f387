"""Background jobs (bulk export and import) and the audit log.

Revision ID: 0003
Revises: 0002_rest
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_rest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fb_job",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("owner", sa.String(64)),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("transaction_time", sa.String(40)),
        sa.Column("lease_until", sa.String(40)),
        sa.Column("worker", sa.String(64)),
        sa.Column("progress", sa.String(200)),
        sa.Column("result", sa.Text),
    )
    op.create_index("ix_fb_job_state", "fb_job", ["state", "created"])
    op.create_table(
        "fb_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("recorded", sa.String(40), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("what", sa.String(200), nullable=False),
        sa.Column("outcome", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_fb_audit_recorded", "fb_audit", ["recorded"])


def downgrade() -> None:
    op.drop_table("fb_audit")
    op.drop_table("fb_job")
