"""Meta's lifecycle: its reports on templates, numbers and the account, and what they left in force

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07

`lifecycle_event` keeps every report (webhook or `bot templates sync`); `template_status` holds each
template's review status and category as Meta last said, and the hash of what was last pushed;
`number_state` holds each business number's quality rating and messaging limit.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_WHEN = storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "lifecycle_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("webhook_event_id", sa.Integer(), nullable=True),
        sa.Column("digest", _TEXT(length=64), nullable=False),
        sa.Column("source", _TEXT(length=16), nullable=False),
        sa.Column("kind", _TEXT(length=32), nullable=False),
        sa.Column("event", _TEXT(length=64), nullable=True),
        sa.Column("subject", _TEXT(length=600), nullable=False),
        sa.Column("old_value", _TEXT(length=64), nullable=True),
        sa.Column("new_value", _TEXT(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("account_id", _TEXT(length=128), nullable=True),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("occurred_at", _WHEN(timezone=True), nullable=True),
        sa.Column("received_at", _WHEN(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_event")),
        sa.UniqueConstraint("digest", name=op.f("uq_lifecycle_event_digest")),
    )
    op.create_index("ix_lifecycle_event_subject", "lifecycle_event", ["subject", "id"])
    op.create_table(
        "template_status",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _TEXT(length=512), nullable=False),
        sa.Column("language", _TEXT(length=16), nullable=False),
        sa.Column("status", _TEXT(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("category", _TEXT(length=32), nullable=True),
        sa.Column("previous_category", _TEXT(length=32), nullable=True),
        sa.Column("category_changed_at", _WHEN(timezone=True), nullable=True),
        sa.Column("meta_id", _TEXT(length=128), nullable=True),
        sa.Column("content_hash", _TEXT(length=64), nullable=True),
        sa.Column("pushed_at", _WHEN(timezone=True), nullable=True),
        sa.Column("status_at", _WHEN(timezone=True), nullable=True),
        sa.Column("updated_at", _WHEN(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template_status")),
        sa.UniqueConstraint("name", "language", name="uq_template_status_name_language"),
    )
    op.create_table(
        "number_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_number_id", _TEXT(length=64), nullable=True),
        sa.Column("display_number", _TEXT(length=32), nullable=True),
        sa.Column("account_id", _TEXT(length=128), nullable=True),
        sa.Column("quality", _TEXT(length=16), nullable=True),
        sa.Column("messaging_limit", _TEXT(length=32), nullable=True),
        sa.Column("updated_at", _WHEN(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_state")),
        sa.UniqueConstraint("display_number", name=op.f("uq_number_state_display_number")),
        sa.UniqueConstraint("phone_number_id", name=op.f("uq_number_state_phone_number_id")),
    )


def downgrade() -> None:
    op.drop_table("number_state")
    op.drop_table("template_status")
    op.drop_index("ix_lifecycle_event_subject", table_name="lifecycle_event")
    op.drop_table("lifecycle_event")
