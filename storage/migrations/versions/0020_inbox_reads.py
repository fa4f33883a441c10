"""inbox read marks

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-07

The dashboard's inbox counts each customer's unread messages: `inbox_read` keeps, per contact, the newest
message id a person has seen in the chat (one mark per conversation; the dashboard has one login).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_read",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("read_id", sa.Integer(), nullable=False),
        sa.Column("read_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], name=op.f("fk_inbox_read_contact_id_contact")),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_inbox_read")),
    )


def downgrade() -> None:
    op.drop_table("inbox_read")
