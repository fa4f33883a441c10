"""otp challenges

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "otp_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wa_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_challenge")),
    )
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.create_index("ix_otp_challenge_lookup", ["wa_id", "purpose", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("otp_challenge", schema=None) as batch_op:
        batch_op.drop_index("ix_otp_challenge_lookup")

    op.drop_table("otp_challenge")
