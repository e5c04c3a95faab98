"""Request and response bodies of the automation domain's API: schedules (business hours) and SLA
policies. The service modules (``schedules``, ``sla_policies``) check the same shapes for the admin
pages, so every rule holds whichever way a change arrives."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from helpline.types import Id, Strict, Tag

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Priority = Literal["low", "normal", "high", "urgent"]
Metric = Literal["first_reply", "next_reply", "periodic_update", "resolution", "requester_wait", "agent_work"]
PRIORITIES: tuple[str, ...] = ("urgent", "high", "normal", "low")
#: The SLA metrics, in the order pages and the API list them (``automation/sla/clocks.py``).
METRICS: tuple[str, ...] = get_args(Metric)
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Clock = Annotated[str, StringConstraints(max_length=5)]
Interval = Annotated[list[Clock], Field(min_length=2, max_length=2)]
Intervals = Annotated[list[Interval], Field(max_length=24)]
DateText = Annotated[str, StringConstraints(max_length=10)]


# --- schedules ------------------------------------------------------------------------------------


class Holiday(Strict):
    """Days off from ``start`` to ``end``, both included (one day: leave ``end`` out, or the same
    date). A holiday switched off (``enabled: false``) stays listed and does not close the day."""

    name: Name
    start: DateText
    end: DateText | None = None
    enabled: bool = True
    source: Annotated[str, StringConstraints(max_length=200)] | None = None


class Week(Strict):
    """Business hours per weekday: ``[["09:00", "12:30"], ["13:30", "17:00"]]``; ``24:00`` may end
    an interval; intervals of a day may not overlap; an empty list is a day off."""

    mon: Intervals = []
    tue: Intervals = []
    wed: Intervals = []
    thu: Intervals = []
    fri: Intervals = []
    sat: Intervals = []
    sun: Intervals = []


class ScheduleBody(Strict):
    timezone: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    week: Week = Week()
    holidays: Annotated[list[Holiday], Field(max_length=1000)] = []


class ScheduleCreate(Strict):
    name: Name
    body: ScheduleBody
    is_default: bool = False
    group_ids: Annotated[list[Id], Field(max_length=500)] = []


class ScheduleUpdate(Strict):
    """What to change; a field left out stays as it is. ``is_default: true`` makes this schedule the
    default (the old one stops being it); a default cannot be unset, only replaced."""

    name: Name | None = None
    body: ScheduleBody | None = None
    is_default: bool | None = None
    group_ids: Annotated[list[Id], Field(max_length=500)] | None = None


class ScheduleRead(BaseModel):
    id: int
    name: str
    timezone: str
    body: dict[str, Any]
    is_default: bool
    group_ids: list[int]
    version: int
    created_at: datetime
    updated_at: datetime


class HolidayDay(BaseModel):
    date: str
    name: str


class HolidayPreview(BaseModel):
    country: str
    subdiv: str | None
    source: str
    years: list[int]
    days: list[HolidayDay]


class HolidayImport(Strict):
    """Import the public holidays of ``country`` (``subdiv``) for ``year`` or ``years``; the dates in
    ``dates_off`` are kept disabled."""

    country: Annotated[str, StringConstraints(min_length=2, max_length=3)]
    subdiv: Annotated[str, StringConstraints(max_length=40)] | None = None
    year: int | None = Field(default=None, ge=1900, le=2200)
    years: Annotated[list[Annotated[int, Field(ge=1900, le=2200)]], Field(max_length=3)] | None = None
    dates_off: Annotated[list[DateText], Field(max_length=400)] = []


class HolidayImportResult(BaseModel):
    added: int
    schedule: ScheduleRead


# --- SLA policies ---------------------------------------------------------------------------------


class Condition(Strict):
    field: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    operator: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    value: Any = None


class Conditions(Strict):
    """Every condition of ``all`` and, when ``any`` is not empty, one of ``any``; empty: every ticket."""

    all: Annotated[list[Condition], Field(max_length=50)] = []
    any: Annotated[list[Condition], Field(max_length=50)] = []


class Target(Strict):
    minutes: int = Field(ge=1, le=525_600)
    business: bool = True
    warn: int = Field(default=0, ge=0, le=525_599)


class MetricTargets(Strict):
    first_reply: Target | None = None
    next_reply: Target | None = None
    periodic_update: Target | None = None
    resolution: Target | None = None
    requester_wait: Target | None = None
    agent_work: Target | None = None


class Targets(Strict):
    low: MetricTargets | None = None
    normal: MetricTargets | None = None
    high: MetricTargets | None = None
    urgent: MetricTargets | None = None


IdList = Annotated[list[Id], Field(max_length=100)]


class NotifyAction(Strict):
    type: Literal["notify"]
    user_ids: IdList = []
    group_ids: IdList = []


class AssignAction(Strict):
    type: Literal["assign"]
    user_id: Id | None = None
    group_id: Id | None = None


class PriorityAction(Strict):
    type: Literal["priority"]
    value: Priority


class TagAction(Strict):
    type: Literal["tag"]
    tag: Tag


class WebhookAction(Strict):
    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    secret: Annotated[str, StringConstraints(max_length=200)] | None = None


Action = Annotated[
    NotifyAction | AssignAction | PriorityAction | TagAction | WebhookAction, Field(discriminator="type")
]


class Escalation(Strict):
    on: Literal["warn", "breach"]
    metrics: Annotated[list[Metric], Field(max_length=6)] | None = None
    actions: Annotated[list[Action], Field(min_length=1, max_length=10)]


class SlaPolicyCreate(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    active: bool = True
    is_fallback: bool = False
    conditions: Conditions = Conditions()
    targets: Targets = Targets()
    escalations: Annotated[list[Escalation], Field(max_length=20)] = []


class SlaPolicyUpdate(Strict):
    """What to change; a field left out stays as it is."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    active: bool | None = None
    is_fallback: bool | None = None
    conditions: Conditions | None = None
    targets: Targets | None = None
    escalations: Annotated[list[Escalation], Field(max_length=20)] | None = None


class SlaPolicyRead(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    description: str
    position: int
    active: bool
    is_fallback: bool
    conditions: dict[str, Any]
    targets: dict[str, Any]
    escalations: list[Any]
    version: int
    created_at: datetime
    updated_at: datetime


class SlaPolicyOrder(Strict):
    """Every policy's id, in the order they are to be matched (the fallback is matched last anyway)."""

    ids: Annotated[list[Id], Field(min_length=1, max_length=500)]


# --- time rules -------------------------------------------------------------------------------------


class RuleAction(Strict):
    """One action (``automation.actions``): ``type`` and its ``value``."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    value: Any = None


Actions = Annotated[list[RuleAction], Field(min_length=1, max_length=20)]


class TimeRuleCreate(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] = ""
    active: bool = True
    conditions: Conditions = Conditions()
    actions: Actions


class TimeRuleUpdate(Strict):
    """What to change; a field left out stays as it is."""

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    active: bool | None = None
    conditions: Conditions | None = None
    actions: Actions | None = None


class TimeRuleRead(BaseModel):
    id: int
    name: str
    description: str
    position: int
    active: bool
    conditions: dict[str, Any]
    actions: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class TimeRuleOrder(Strict):
    ids: Annotated[list[int], Field(max_length=500)]


class TimeRuleDryRun(Strict):
    """A rule to try (not saved): its conditions and actions."""

    conditions: Conditions = Conditions()
    actions: Actions


class DryRunTicket(BaseModel):
    id: int
    number: int
    subject: str
    status: str


class TimeRuleDryRunResult(BaseModel):
    looked_at: int
    matches: int
    tickets: list[DryRunTicket]
    would: list[str]
    stops: bool
