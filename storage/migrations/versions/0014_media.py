"""inbound media files

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

Each inbound image, audio, video, document or sticker gets a `media` row: the queue its file is fetched
from Meta by, in the background, and then the message's link to the stored file (mime type, size, SHA-256).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("media_id", sa.String(length=128), nullable=True),
        sa.Column("declared_mime", sa.String(length=255), nullable=True),
        sa.Column("declared_sha256", sa.String(length=128), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=True),
        sa.Column("animated", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("mime_type", sa.String(length=255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stored_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"], name=op.f("fk_media_contact_id_contact")),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], name=op.f("fk_media_message_id_message")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_media")),
        sa.UniqueConstraint("message_id", name=op.f("uq_media_message_id")),
    )
    op.create_index(op.f("ix_media_contact_id"), "media", ["contact_id"])
    op.create_index(op.f("ix_media_sha256"), "media", ["sha256"])
    op.create_index("ix_media_claim", "media", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_media_claim", table_name="media")
    op.drop_index(op.f("ix_media_sha256"), table_name="media")
    op.drop_index(op.f("ix_media_contact_id"), table_name="media")
    op.drop_table("media")
