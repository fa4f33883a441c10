"""media ids of the project's files

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07

A `say` step may send a file from the project; the sender uploads it to Meta once and keeps the media id
here, by the file's SHA-256 and the business number, until Meta's 30 days are nearly over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media_upload",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_number_id", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media_id", sa.String(length=128), nullable=False),
        sa.Column("mime_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media_upload")),
        sa.UniqueConstraint("phone_number_id", "sha256", name="uq_media_upload_phone_number_id"),
    )


def downgrade() -> None:
    op.drop_table("media_upload")
