"""campaigns

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    when = storage.types.UTCDateTime(timezone=True)
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("template", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=True),
        sa.Column("send_at", when, nullable=True),
        sa.Column("cron", sa.String(length=128), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("next_run_at", when, nullable=True),
        sa.Column("frequency_cap", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=True),
        sa.Column("flow", sa.String(length=128), nullable=True),
        sa.Column("test_numbers", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("updated_at", when, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("name", name=op.f("uq_campaign_name")),
    )
    op.create_index(op.f("ix_campaign_next_run_at"), "campaign", ["next_run_at"], unique=False)
    op.create_table(
        "campaign_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", when, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("created_at", when, nullable=False),
        sa.Column("finished_at", when, nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_run_campaign_id_campaign")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_run")),
        sa.UniqueConstraint("campaign_id", "scheduled_for", name="uq_campaign_run_campaign_id"),
    )
    op.create_index("ix_campaign_run_state", "campaign_run", ["state"], unique=False)
    op.create_index("ix_outbox_campaign", "outbox", ["campaign_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_campaign", table_name="outbox")
    op.drop_index("ix_campaign_run_state", table_name="campaign_run")
    op.drop_table("campaign_run")
    op.drop_index(op.f("ix_campaign_next_run_at"), table_name="campaign")
    op.drop_table("campaign")
