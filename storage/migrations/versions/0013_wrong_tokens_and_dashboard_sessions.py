"""wrong admin tokens and dashboard sessions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27

Wrong admin tokens were counted in each process's memory, so N processes allowed N times the guesses;
they are rows now, counted by every process. Dashboard sessions were only signed cookies, valid until
they expired even after logout; each is a row now, and logging out deletes it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wrong_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wrong_token")),
    )
    op.create_index("ix_wrong_token_client_at", "wrong_token", ["client", "at"])
    op.create_index("ix_wrong_token_at", "wrong_token", ["at"])
    op.create_table(
        "dashboard_session",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_dashboard_session")),
    )
    op.create_index("ix_dashboard_session_expires_at", "dashboard_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_session_expires_at", table_name="dashboard_session")
    op.drop_table("dashboard_session")
    op.drop_index("ix_wrong_token_at", table_name="wrong_token")
    op.drop_index("ix_wrong_token_client_at", table_name="wrong_token")
    op.drop_table("wrong_token")
