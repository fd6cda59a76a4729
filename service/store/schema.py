"""The store's tables, as SQLAlchemy Core metadata.

The migrations under ``migrations/versions`` create exactly these; a test compares the two so
they cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.types import JSON

metadata = MetaData()

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source", String(16), nullable=False),
    Column("delivery_id", String(200), nullable=False, doc="the tracker's id for this delivery, same on retries"),
    Column("event_name", String(100), nullable=False),
    Column("event_kind", String(32), nullable=False),
    Column("item_ref", String(300)),
    Column("headers", JSON, nullable=False, doc="the few headers a parser needs to read the body again"),
    Column("body", LargeBinary, nullable=False),
    Column("body_digest", String(80), doc="sha256 of the body: the same body twice is one delivery"),
    Column("status", String(16), nullable=False, doc="received, done, ignored or failed"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("job_id", String(100), doc="the RQ job now in charge; empty means delivery-<id>"),
    Column("retry_at", DateTime(timezone=True), doc="when a job waiting out a tracker fault runs again"),
    Column("outcome", Text),
    Column("last_error", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "delivery_id", name="uq_deliveries_source_delivery_id"),
    Index("uq_deliveries_source_body_digest", "source", "body_digest", unique=True),
    Index("ix_deliveries_status_received_at", "status", "received_at"),
    Index("ix_deliveries_status_updated_at", "status", "updated_at"),  # the sweep asks by this
    Index("ix_deliveries_item_ref", "item_ref"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ref", String(300), nullable=False, unique=True),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False),
    Column("body", Text, nullable=False, doc="kept to find the items it references"),
    Column("priority", String(100), nullable=False),
    Column("urgency", String(50), nullable=False),
    Column("service", String(200), nullable=False),
    Column("responders", JSON, nullable=False),
    Column("opened_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_incidents_service", "service"),  # the service filter's suggestions
)

reviews = Table(
    "reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_ref", String(300), nullable=False, unique=True, doc="one incident, one review"),
    Column("ref", String(300), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("template", Text, doc="the template file the review was opened with; empty for the built-in one"),
    Column("status", String(16), nullable=False, doc="open or closed"),
    Column("due_on", Date),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("reminded_on", Date),
    Column("rule", String(200), doc="the rule that selected the incident (its place and name): the review's scope"),
    Column("header", Text, doc="the header lessonloop wrote in the review: never read back as the lesson's"),
    Index("ix_reviews_opened_at", "opened_at"),  # the figures of a window
    Index("ix_reviews_status_due_on", "status", "due_on"),  # open and overdue: /metrics, reminders
)

lessons = Table(
    "lessons",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("review_ref", String(300), nullable=False, unique=True),
    Column("incident_ref", String(300), nullable=False),
    Column("incident_title", Text, nullable=False),
    Column("incident_url", Text, nullable=False),
    Column("priority", String(100), nullable=False),
    Column("review_url", Text, nullable=False),
    Column("what_happened", Text, nullable=False),
    Column("what_we_expected", Text, nullable=False),
    Column("why_different", Text, nullable=False),
    Column("what_we_learned", Text, nullable=False),
    Column("what_we_will_change", Text, nullable=False),
    Column("other_sections", JSON, nullable=False, doc="sections of a custom template beyond the five"),
    Column("digest", String(64), nullable=False),
    Column("incident_closed_at", DateTime(timezone=True)),
    Column("captured_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("seconds_to_lesson", Integer, doc="from the incident's close to the lesson's capture"),
    Column(
        "service",
        String(200),
        nullable=False,
        server_default="",
        doc="its incident's, kept in step with it: the service filter reads it on the lesson's own row",
    ),
    Index("ix_lessons_captured_at", "captured_at", "id"),  # the learning log pages newest first
    Index("ix_lessons_incident_ref", "incident_ref"),  # a lesson by its incident's ref
)

# the learning log by incident date, newest first and unknown dates last (migration 0009 spells
# the order out for PostgreSQL; SQLite reads its index backwards that way)
Index(
    "ix_lessons_incident_closed_at",
    lessons.c.incident_closed_at.desc().nulls_last(),
    lessons.c.id.desc(),
)

# The full-text index of the lessons is not here: SQLAlchemy's metadata cannot describe an
# FTS5 virtual table (SQLite, ``lessons_fts``) or generated tsvector columns (PostgreSQL,
# ``lessons.search_vector`` with its GIN index, ``lessons.title_vector``). Migration 0004 makes
# them; ``SEARCH_INDEX_NAMES`` lets the test
# that compares this file with the migrations leave exactly those out.
SEARCH_INDEX_NAMES = frozenset({"lessons_fts", "search_vector", "title_vector", "ix_lessons_search_vector"})

incident_labels = Table(
    "incident_labels",
    metadata,
    Column("incident_ref", String(300), primary_key=True),
    Column("label", String(200), primary_key=True),
    Index("ix_incident_labels_label", "label"),
)

# The label and service filters compare without case (migration 0011): the incidents that
# carry a label, or are of a service (/insights), and the lessons of a service (a filtered
# list's count), read from one index range, with PostgreSQL's planner given statistics for
# each expression.
Index("ix_incident_labels_lower_label_ref", func.lower(incident_labels.c.label), incident_labels.c.incident_ref)
Index("ix_incidents_lower_service_ref", func.lower(incidents.c.service), incidents.c.ref)
Index("ix_lessons_service_lower", func.lower(lessons.c.service))

# Indexes made on PostgreSQL only (migration 0010), where its planner uses them and SQLite's
# would not; POSTGRESQL_ONLY_INDEXES names them for the test that compares this file with the
# migrations (Alembic's comparison does not read ``ddl_if``).
# /insights reads each review's lesson dates from the index (SQLite's planner takes the unique
# review_ref index for that join)
Index("ix_lessons_review_dates", lessons.c.review_ref, lessons.c.captured_at, lessons.c.incident_closed_at).ddl_if(
    dialect="postgresql"
)
# related lessons kept to the places a rule reviews in: lower(review_ref) LIKE 'prefix%'
Index(
    "ix_lessons_review_ref_lower",
    func.lower(lessons.c.review_ref).label("review_ref_lower"),
    postgresql_ops={"review_ref_lower": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
POSTGRESQL_ONLY_INDEXES = frozenset(
    {
        "ix_lessons_review_dates",
        "ix_lessons_review_ref_lower",
    }
)

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("a_ref", String(300), nullable=False),
    Column("b_ref", String(300), nullable=False),
    Column("origin", String(16), nullable=False, doc="opened (review of incident), text (referenced), manual"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("a_ref", "b_ref", name="uq_links_pair"),
    Index("ix_links_b_ref", "b_ref"),
)

effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("item_ref", String(300), nullable=False),
    Column("kind", String(32), nullable=False, doc="the marker kind of what was written"),
    Column("key", String(300), nullable=False, doc="which one of that kind: a review ref, a digest, a date"),
    Column("comment_id", String(100), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("item_ref", "kind", "key", name="uq_effects_item_kind_key"),
    Index("ix_effects_kind_key", "kind", "key"),  # where a lesson was posted
)

instance = Table(
    "instance",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False, doc="what this installation generated once: the marker key"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

imports = Table(
    "imports",
    metadata,
    Column("review_ref", String(300), primary_key=True, doc="the lesson (its review's ref, or markdown:PATH)"),
    Column("source", String(300), nullable=False, doc="what was imported: github:owner/repo, jira:KEY, markdown:DIR"),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

followups = Table(
    "followups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("review_ref", String(300), nullable=False, doc="the lesson it comes from"),
    Column(
        "item_key",
        String(300),
        nullable=False,
        doc="stable within the lesson: the ref it links, else a key minted when first seen (the task's marker)",
    ),
    Column("ref", String(300), doc="the task in its tracker; empty while not opened"),
    Column("url", Text, nullable=False),
    Column("text", Text, nullable=False, doc="the list item as written, in the review's markup (cut)"),
    Column("origin", String(16), nullable=False, doc="adopted, opened, opening or not opened"),
    Column("state", String(16), nullable=False, doc="open, done, not doing or unknown"),
    Column("reason", Text, nullable=False, doc="why not opened, or why its state is unknown"),
    Column("position", Integer, nullable=False, doc="its place in the list; -1 when no longer listed"),
    Column("due_on", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("state_at", DateTime(timezone=True), doc="when the state last changed"),
    Column("done_at", DateTime(timezone=True)),
    Column("checked_on", Date, doc="the day the daily refresh last read it"),
    UniqueConstraint("review_ref", "item_key", name="uq_followups_review_item"),
    Index("ix_followups_ref", "ref"),
    Index("ix_followups_created_at", "created_at"),  # the figures of a window
)
