"""Tables of the automation domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from helpline.db.base import Base, IdMixin, JSONType, utcnow


class CannedResponse(IdMixin, Base):
    """A reply an agent inserts with one click. ``body`` may hold placeholders such as
    ``{{ customer.first_name }}``, ``{{ ticket.number }}`` and ``{{ agent.name }}``. With ``group_id``
    set, only that group's members (and admins) see it."""

    __tablename__ = "canned_responses"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "title"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- business hours (schedules) ---------------------------------------------------------------------


class Schedule(IdMixin, Base):
    """Business hours: an IANA time zone, intervals per weekday and named holidays, as the JSON
    ``body`` that ``automation.calendar.Calendar.from_body`` reads (the one shape the API, the pages
    and the SLA engine share). Each edit bumps ``version`` and appends a :class:`ScheduleVersion`, so
    time counted before the edit stays counted under the hours then in force. One schedule per
    workspace is the default (``is_default``); others apply to the groups named in
    :class:`ScheduleGroup`."""

    __tablename__ = "schedules"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleVersion(Base):
    """What a schedule said from ``valid_from`` on (append-only; the SLA engine's history)."""

    __tablename__ = "schedule_versions"
    schedule_id: Mapped[int] = mapped_column(
        sa.ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    valid_from: Mapped[datetime] = mapped_column(default=utcnow)


class ScheduleGroup(Base):
    """A group whose tickets follow ``schedule_id`` instead of the workspace's default."""

    __tablename__ = "schedule_groups"
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))


# --- SLA policies and clocks --------------------------------------------------------------------------


class SlaPolicy(IdMixin, Base):
    """An ordered SLA policy: the first active one (by ``position``) whose ``conditions`` match a
    ticket applies, else the workspace's fallback (``is_fallback``, at most one). ``targets`` maps a
    priority to its targets per metric (``{"urgent": {"first_reply": {"minutes": 30, "business":
    true, "warn": 10}}}``); ``escalations`` lists what happens on a warning or a breach. The shapes
    are documented in ``docs/sla.md`` and checked by ``automation.sla_policies``."""

    __tablename__ = "sla_policies"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    is_fallback: Mapped[bool] = mapped_column(default=False)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    targets: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    escalations: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaEvent(IdMixin, Base):
    """One entry of a ticket's append-only SLA stream (``apply``, ``activate``, ``pause``,
    ``resume``, ``fulfil``, ``stop``, ``warn``, ``breach``, ``escalate``). Every clock state and
    every SLA report is a function of these rows and the schedules' versions
    (``automation.sla.clocks.replay``). A warning and a breach are written once per ticket, metric
    and cycle (the partial unique index), however many workers sweep."""

    __tablename__ = "sla_events"
    __table_args__ = (
        sa.Index("ix_sla_events_ticket", "ticket_id", "id"),
        sa.Index(
            "uq_sla_events_alert",
            "ticket_id",
            "metric",
            "cycle",
            "kind",
            unique=True,
            sqlite_where=sa.text("kind IN ('warn', 'breach')"),
            postgresql_where=sa.text("kind IN ('warn', 'breach')"),
        ),
    )
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    metric: Mapped[str | None] = mapped_column(sa.String(32))
    cycle: Mapped[int] = mapped_column(default=0)
    at: Mapped[datetime] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class TicketClock(Base):
    """The current state of one SLA clock of a ticket (its latest cycle; every metric is measured,
    ``target_seconds`` is NULL where the policy sets no target), kept by the engine as it folds each
    event: what the inbox sorts by and what the alert sweep looks for. It is a cache of
    ``sla_events`` (``replay`` gives the same), never the only record.

    ``elapsed_business`` / ``elapsed_calendar`` are seconds counted up to ``since``; while
    ``state == 'running'`` the clock has run since ``since``. ``alert_at`` is the next warning or
    breach still to fire (NULL when none); the soonest of a ticket's is its summary's
    ``next_alert_at``, which the sweep's index holds. No other index than the primary key: a
    recompute's rewrite of due times is then a HOT update on PostgreSQL (migration 0045 keeps the
    pages 80 % full for it)."""

    __tablename__ = "ticket_clocks"
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    cycle: Mapped[int] = mapped_column(default=1)
    policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_policies.id", ondelete="SET NULL"))
    target_seconds: Mapped[int | None] = mapped_column()
    warn_seconds: Mapped[int] = mapped_column(default=0)
    business: Mapped[bool] = mapped_column(default=True)
    schedule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schedules.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column()
    since: Mapped[datetime] = mapped_column()
    elapsed_business: Mapped[float] = mapped_column(sa.Float, default=0.0)
    elapsed_calendar: Mapped[float] = mapped_column(sa.Float, default=0.0)
    due_at: Mapped[datetime | None] = mapped_column()
    warn_at: Mapped[datetime | None] = mapped_column()
    alert_at: Mapped[datetime | None] = mapped_column()
    warned_at: Mapped[datetime | None] = mapped_column()
    breached_at: Mapped[datetime | None] = mapped_column()
    stopped_at: Mapped[datetime | None] = mapped_column()
    achieved: Mapped[bool | None] = mapped_column()


class TicketSlaSummary(Base):
    """Per ticket, its policy and the soonest due time of a running clock (``next_due_at``), with
    the soonest warning: the inbox's "next breach" column, its sort and its "at risk" / "breached"
    filters read this one row instead of every clock."""

    __tablename__ = "ticket_sla"
    __table_args__ = (
        sa.Index("ix_ticket_sla_ws_due", "workspace_id", "next_due_at"),
        sa.Index("ix_ticket_sla_schedule", "schedule_id", "ticket_id"),
        sa.Index(
            "ix_ticket_sla_breached",
            "workspace_id",
            sqlite_where=sa.text("breached"),
            postgresql_where=sa.text("breached"),
        ),
        sa.Index(
            "ix_ticket_sla_alert",
            "next_alert_at",
            sqlite_where=sa.text("next_alert_at IS NOT NULL"),
            postgresql_where=sa.text("next_alert_at IS NOT NULL"),
        ),
    )
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_policies.id", ondelete="SET NULL"))
    schedule_id: Mapped[int | None] = mapped_column(sa.ForeignKey("schedules.id", ondelete="SET NULL"))
    next_due_at: Mapped[datetime | None] = mapped_column()
    next_warn_at: Mapped[datetime | None] = mapped_column()
    #: The soonest warning or breach still to fire of its clocks (their ``alert_at``): the sweep's index.
    next_alert_at: Mapped[datetime | None] = mapped_column()
    breached: Mapped[bool] = mapped_column(default=False)
    #: What the clocks' rules need to know of the ticket between events: its status, whether an
    #: agent has replied in public, whether the customer spoke last (``automation.sla.clocks``).
    facts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class TimeRule(IdMixin, Base):
    """A time rule (an "automation"): every few minutes the job runner finds the workspace's open
    tickets that match ``conditions`` (the condition language with its timed fields) and applies
    ``actions`` (``automation.actions``) to each through the tickets service. Ordered by
    ``position``; the actions must stop the conditions (checked on save) so a rule acts once per
    ticket until the ticket changes again."""

    __tablename__ = "time_rules"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimeRuleRun(Base):
    """That a time rule acted on a ticket in one of its periods (the ticket's ``updated_at`` when it
    matched): unique, so two workers or a pass run again after a restart act once."""

    __tablename__ = "time_rule_runs"
    rule_id: Mapped[int] = mapped_column(sa.ForeignKey("time_rules.id", ondelete="CASCADE"), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    period: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Trigger(IdMixin, Base):
    """A trigger: when a person (an agent, a customer) or a time rule changes a ticket, the
    workspace's active triggers are checked in ``position`` order against the ticket and the change
    (what changed, who, whether a message came), and each that matches applies ``actions``, at most
    once per change (``automation.triggers``)."""

    __tablename__ = "triggers"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    workspace_id: Mapped[int] = mapped_column(sa.ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    actions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
