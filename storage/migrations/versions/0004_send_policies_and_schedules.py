"""send policies and schedules

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("cron", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("time_zone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("template", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("parameters", sa.JSON(), nullable=True),
        sa.Column("wa_ids", sa.JSON(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule")),
        sa.UniqueConstraint("name", name=op.f("uq_schedule_name")),
    )
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_next_run_at"), ["next_run_at"], unique=False)

    op.create_table(
        "template_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("blocked_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_block")),
        sa.UniqueConstraint("name", "language", name="uq_template_block_name_language"),
    )
    op.create_table(
        "schedule_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedule.id"], name=op.f("fk_schedule_run_schedule_id_schedule")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_run")),
        sa.UniqueConstraint("schedule_id", "scheduled_for", name="uq_schedule_run_schedule_id"),
    )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("undeliverable_at", storage.types.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outside_window", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(
            "ix_message_outside_window",
            ["created_at", "contact_id"],
            unique=False,
            sqlite_where=sa.text("outside_window"),
            postgresql_where=sa.text("outside_window"),
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch_op.add_column(sa.Column("urgent", sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table("status_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.create_index(batch_op.f("ix_status_event_callback"), ["callback"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("status_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_status_event_callback"))
        batch_op.drop_column("callback")

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("urgent")
        batch_op.drop_column("subject")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_message_outside_window",
            sqlite_where=sa.text("outside_window"),
            postgresql_where=sa.text("outside_window"),
        )
        batch_op.drop_column("outside_window")

    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("undeliverable_at")

    op.drop_table("schedule_run")
    op.drop_table("template_block")
    with op.batch_alter_table("schedule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_next_run_at"))

    op.drop_table("schedule")
