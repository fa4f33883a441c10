"""codes first

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

One-time codes now go before replies (`storage.outbox.KINDS`): rows already queued take the new ranks,
so a code queued before the upgrade is not left behind replies queued after it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW = {"otp": 0, "reply": 1, "utility": 2, "marketing": 3}
OLD = {"reply": 0, "otp": 1, "utility": 2, "marketing": 3}


def _rank(ranks: dict[str, int]) -> None:
    cases = " ".join(f"WHEN '{kind}' THEN {rank}" for kind, rank in ranks.items())
    op.execute(sa.text(f"UPDATE outbox SET priority = CASE kind {cases} ELSE priority END"))


def upgrade() -> None:
    _rank(NEW)


def downgrade() -> None:
    _rank(OLD)
