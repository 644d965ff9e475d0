"""item kinds and office rules: co-handling units, extensions, meetings, ratings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 06:19:57.295319
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("court_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_due_on", sa.Date(), nullable=False),
        sa.Column("previous_due_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.create_index("ix_extensions_item", ["item_id", "id"], unique=False)
        batch_op.create_index("ix_extensions_pending", ["court_id", "status", "id"], unique=False)

    op.create_table(
        "item_co_departments",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.PrimaryKeyConstraint("item_id", "department_id"),
    )
    with op.batch_alter_table("item_co_departments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_item_co_departments_department_id"), ["department_id"], unique=False
        )

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("court_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("deputy_id", sa.Integer(), nullable=True),
        sa.Column("met_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deputy_id"],
            ["deputies.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index("ix_meetings_item", ["item_id", "id"], unique=False)

    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("court_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("deputy_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("rating", sa.String(length=30), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["court_id"],
            ["courts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deputy_id"],
            ["deputies.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "deputy_id", "round", name="uq_ratings_item_deputy_round"),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index("ix_ratings_court", ["court_id", "created_at"], unique=False)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_audit_events_task_id", "tasks", ["task_id"], ["id"])

    # Plain ADD COLUMNs: a batch would rebuild `items`, which other tables reference (and
    # SQLite refuses to drop a referenced table while foreign keys are on).
    for column in (
        sa.Column("case_number", sa.String(length=80), nullable=True),
        sa.Column("case_stage", sa.String(length=20), nullable=True),
        sa.Column("source_org", sa.String(length=200), nullable=True),
        sa.Column("source_reference", sa.String(length=100), nullable=True),
        sa.Column("routed_at", sa.DateTime(), nullable=True),
        sa.Column("round", sa.Integer(), server_default="1", nullable=False),
        sa.Column("meeting_waived", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("replied_at", sa.DateTime(), nullable=True),
        sa.Column("reply_class", sa.String(length=1), nullable=True),
    ):
        op.add_column("items", column)
    op.add_column("kind_settings", sa.Column("rehandle_months", sa.Integer(), nullable=True))
    op.add_column("kind_settings", sa.Column("meeting_required", sa.Boolean(), nullable=True))
    op.add_column("process_models", sa.Column("called_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("process_models", schema=None) as batch_op:
        batch_op.drop_column("called_ids")

    with op.batch_alter_table("kind_settings", schema=None) as batch_op:
        batch_op.drop_column("meeting_required")
        batch_op.drop_column("rehandle_months")

    with op.batch_alter_table("items", schema=None) as batch_op:
        batch_op.drop_column("reply_class")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("meeting_waived")
        batch_op.drop_column("round")
        batch_op.drop_column("routed_at")
        batch_op.drop_column("source_reference")
        batch_op.drop_column("source_org")
        batch_op.drop_column("case_stage")
        batch_op.drop_column("case_number")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_audit_events_task_id", type_="foreignkey")
        batch_op.drop_column("task_id")

    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("ix_ratings_court")

    op.drop_table("ratings")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index("ix_meetings_item")

    op.drop_table("meetings")
    with op.batch_alter_table("item_co_departments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_co_departments_department_id"))

    op.drop_table("item_co_departments")
    with op.batch_alter_table("extensions", schema=None) as batch_op:
        batch_op.drop_index("ix_extensions_pending")
        batch_op.drop_index("ix_extensions_item")

    op.drop_table("extensions")
