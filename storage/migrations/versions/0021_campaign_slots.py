"""campaign run slots

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

A campaign's `rate` spaces its sends. Each run now counts the send slots it has handed out (`slots`),
apart from the messages it queued (`queued`): a recipient the expansion already expects to be dropped
when sent (no consent, opted out, a +1 number, undeliverable, over the frequency cap) is still queued,
so its reason shows in the recipients' log, but takes no slot. Before, a campaign of 10,000 with 1,500
such recipients sent 850 a second at `rate: 1000`. Runs already under way go on from their queued count.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_run") as batch:
        batch.add_column(sa.Column("slots", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE campaign_run SET slots = queued")


def downgrade() -> None:
    with op.batch_alter_table("campaign_run") as batch:
        batch.drop_column("slots")
