"""session expiry index

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26

The dispatcher asks every round which sessions timed out: a waiting step past its deadline
(`ix_session_deadline_at`) or a running flow idle past its expiry. Without an index on the expiry that
second half read the whole session table, one row per contact who ever wrote.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_A_FLOW = sa.text("flow IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_session_flow_expires", "session", ["expires_at"], sqlite_where=IN_A_FLOW, postgresql_where=IN_A_FLOW
    )


def downgrade() -> None:
    op.drop_index("ix_session_flow_expires", table_name="session")
