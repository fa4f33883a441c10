"""several numbers: the phone_number table, and each conversation, message, outbox row, campaign and schedule's number

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07

Existing rows are backfilled with the number the deployment served until now: the one `bot db upgrade`
(or `bot serve`'s own migration) passes from WHATSAPP_PHONE_NUMBER_ID, or, when run without one, that
variable from the environment, else the sandbox's number (DESIGN.md's default, 106540352242922). The
`phone_number` table itself is filled at start, from numbers.yaml or the settings (bot/numbers/number.py).
"""

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("conversation", "message", "outbox", "campaign", "schedule")
SANDBOX_NUMBER = "106540352242922"  # bot.settings.SANDBOX_PHONE_NUMBER_ID; storage never imports bot


def upgrade() -> None:
    op.create_table(
        "phone_number",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("display_number", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("token_env", sa.String(length=128), nullable=True),
        sa.Column("throughput", sa.Integer(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("quality", sa.String(length=16), nullable=True),
        sa.Column("main_flow", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_number")),
    )
    number = (
        op.get_context().config.attributes.get("phone_number_id")
        or os.environ.get("WHATSAPP_PHONE_NUMBER_ID")
        or SANDBOX_NUMBER
    )
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("phone_number_id", sa.String(length=32), nullable=True))
        op.execute(sa.table(table, sa.column("phone_number_id")).update().values(phone_number_id=number))
    op.create_index("ix_outbox_number_claim", "outbox", ["phone_number_id", "status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_number_claim", table_name="outbox")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("phone_number_id")
    op.drop_table("phone_number")
