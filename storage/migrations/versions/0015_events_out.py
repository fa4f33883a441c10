"""events out: subscriptions, deliveries and their attempts

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07

A business subscribes URLs to events (a message received, a handoff, a consent change ...). Each event
owed to a subscription is a row of `event_delivery`, written in the transaction of the change that
caused it, and delivered by a loop that claims rows with a lease; `event_attempt` is the delivery log.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_subscription")),
    )
    op.create_table(
        "event_delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.Column("replay_of", sa.Integer(), nullable=True),
        sa.Column("created_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["event_subscription.id"],
            name=op.f("fk_event_delivery_subscription_id_event_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_delivery")),
    )
    op.create_index("ix_event_delivery_claim", "event_delivery", ["status", "id"])
    op.create_index("ix_event_delivery_order", "event_delivery", ["subscription_id", "contact_id", "status", "id"])
    op.create_index("ix_event_delivery_subscription", "event_delivery", ["subscription_id", "id"])
    op.create_table(
        "event_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["event_delivery.id"], name=op.f("fk_event_attempt_delivery_id_event_delivery")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_attempt")),
    )
    op.create_index(op.f("ix_event_attempt_delivery_id"), "event_attempt", ["delivery_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_attempt_delivery_id"), table_name="event_attempt")
    op.drop_table("event_attempt")
    op.drop_index("ix_event_delivery_subscription", table_name="event_delivery")
    op.drop_index("ix_event_delivery_order", table_name="event_delivery")
    op.drop_index("ix_event_delivery_claim", table_name="event_delivery")
    op.drop_table("event_delivery")
    op.drop_table("event_subscription")
