"""contact erasure

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27

An erased contact keeps its row, without number, name or user id, as the anchor of its consent ledger and
its conversations: when it was erased, the keyed hash of its number, and the calling code costs are priced by.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("contact", sa.Column("erased_at", storage.types.UTCDateTime(timezone=True), nullable=True))
    op.add_column("contact", sa.Column("pseudonym", sa.String(length=64), nullable=True))
    op.add_column("contact", sa.Column("calling_code", sa.String(length=3), nullable=True))
    op.create_index(op.f("ix_contact_pseudonym"), "contact", ["pseudonym"])


def downgrade() -> None:
    op.drop_index(op.f("ix_contact_pseudonym"), table_name="contact")
    with op.batch_alter_table("contact") as batch:
        batch.drop_column("calling_code")
        batch.drop_column("pseudonym")
        batch.drop_column("erased_at")
