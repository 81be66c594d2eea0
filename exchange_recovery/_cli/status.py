"""``status``: where every scope stands according to a journal, and what its restart plan waits on.

The state comes from `verify_journal` (read-only: nothing is written, not even an anchor), so it
is what `recover` would start in. Each scope gets its phase, the version and time of the record
that put it there, and, when the default restart plan's steps fit the policy, the plan step it is
on and the exit criteria of the next one. Only a dwell can be judged from a journal (the time
since the record); health checks and approvals live in the running engine and on the operators'
consoles, so they are listed as ``unknown`` with what they ask for.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .._core.codes import RefusalCode
from .._core.errors import InvalidPlanError
from .._core.model import VENUE
from .._core.policy import Policy
from .._core.text import escape_text
from .._journal.replay import RecoveryReport
from .._plan.plan import RestartPlan, default_restart_plan


@attrs.frozen
class Blocker:
    """One exit criterion of the next plan step, as far as a journal can tell."""

    guard: str
    kind: str
    state: str  # "ok", "blocked" or "unknown"
    code: str | None
    detail: str


@attrs.frozen
class ScopeStatus:
    """One scope: its phase, the record that put it there, and its restart plan's next step."""

    scope: str
    phase: str
    version: int | None
    since: str | None
    plan_step: int | None = None
    plan_steps: int = 0
    next_trigger: str | None = None
    next_phase: str | None = None
    criteria: tuple[Blocker, ...] = ()


def restart_plan_for(policy: Policy) -> RestartPlan | None:
    """The default restart plan's steps over `policy`, or None when they do not fit it."""
    try:
        return RestartPlan("default restart", policy, default_restart_plan().steps)
    except InvalidPlanError:
        return None


def _parse_time(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _last_records(rows: Sequence[Mapping[str, Any] | None],
                  version: int) -> dict[str, tuple[int, str]]:
    """Per scope, the version and time of the last verified record that set its phase."""
    last: dict[str, tuple[int, str]] = {}
    for record in rows:
        if record is None or not isinstance(record.get("version"), int):
            continue
        if record["version"] > version or not isinstance(record.get("time"), str):
            continue
        at = (record["version"], record["time"])
        if record.get("kind") == "snapshot" and isinstance(record.get("phases"), dict):
            last.update(dict.fromkeys(record["phases"], at))
        elif isinstance(record.get("scope"), str):
            last[record["scope"]] = at
    return last


def _duration(seconds: float) -> str:
    """`seconds` in the unit people read best: s, min, h or days."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            amount = round(seconds / size) if unit == "days" else round(seconds / size, 1)
            return f"{amount:g} {unit}"
    return f"{seconds:.0f} s"


def _criteria(plan: RestartPlan, index: int, since: float | None, now: float) -> tuple[Blocker, ...]:
    out = []
    policy = plan.policy
    phase = plan.steps[index].phase
    for name in plan.exit_criteria(index):
        spec = policy.guard(name)
        if spec is None:
            out.append(Blocker(name, "custom", "unknown", None,
                               "a guard the engine registers; not in a journal"))
        elif spec.kind == "dwell":
            needed = float(spec.seconds or 0.0)
            if since is None:
                out.append(Blocker(name, "dwell", "unknown", None,
                                   f"at least {_duration(needed)} in {phase}; entry time not known"))
                continue
            stayed = max(0.0, now - since)
            ok = stayed >= needed
            detail = f"at least {_duration(needed)} in {phase} (in_phase={_duration(stayed)})"
            out.append(Blocker(name, "dwell", "ok" if ok else "blocked",
                               None if ok else RefusalCode.DWELL_NOT_MET.value, detail))
        elif spec.kind == "health":
            out.append(Blocker(name, "health", "unknown", None,
                               f"health check {spec.health_check}: the engine answers it"))
        else:
            roles = ", ".join(sorted(spec.roles)) or "any role"
            out.append(Blocker(name, spec.kind, "unknown", None,
                               f"approval by another person with role {roles}: given at a console"))
    return tuple(out)


def scope_statuses(policy: Policy, report: RecoveryReport,
                   rows: Sequence[Mapping[str, Any] | None], now: float) -> list[ScopeStatus]:
    """Every scope of the journal's state (the venue first), with its plan's next step."""
    last = _last_records(rows, report.version) if report.trusted else {}
    plan = restart_plan_for(policy)
    out = []
    for scope in sorted(report.phases, key=lambda s: (s != VENUE, s)):
        phase = report.phases[scope]
        version, since = last.get(scope, (None, None))
        status = ScopeStatus(scope, phase, version, since)
        index = None if plan is None else plan.index(phase)
        if plan is not None and index is not None:
            last_step = index == len(plan.steps) - 1
            status = attrs.evolve(
                status, plan_step=index, plan_steps=len(plan.steps),
                next_trigger=None if last_step else plan.steps[index].trigger,
                next_phase=None if last_step else plan.steps[index + 1].phase,
                criteria=() if last_step else _criteria(plan, index, _parse_time(since), now))
        elif plan is not None:
            status = attrs.evolve(status, plan_steps=len(plan.steps))
        out.append(status)
    return out


def status_data(report: RecoveryReport, statuses: Sequence[ScopeStatus],
                plan: RestartPlan | None) -> dict[str, object]:
    """What ``status --json`` prints."""
    return {
        "journal": str(report.path), "trusted": report.trusted, "records": report.records,
        "version": report.version,
        "problems": [{"code": p.code.value, "line": p.line, "detail": p.detail}
                     for p in report.problems],
        "plan": None if plan is None else plan.name,
        "scopes": [{
            "scope": s.scope, "phase": s.phase, "version": s.version, "since": s.since,
            "plan": None if plan is None else {
                "step": None if s.plan_step is None else s.plan_step + 1, "steps": s.plan_steps,
                "next_trigger": s.next_trigger, "next_phase": s.next_phase,
                "criteria": [attrs.asdict(c) for c in s.criteria],
                "blocked_by": [c.code for c in s.criteria if c.state == "blocked"],
            },
        } for s in statuses],
    }


def status_lines(report: RecoveryReport, statuses: Sequence[ScopeStatus],
                 plan: RestartPlan | None) -> list[str]:
    """What ``status`` prints: the verdict, then one block per scope."""
    verdict = ("trusted" if report.trusted
               else "NOT TRUSTED: recovery starts every scope in the fail-safe phase")
    out = [(f"journal   {escape_text(str(report.path), 200)}: {verdict}; "
            f"{report.records} record(s), version {report.version}")]
    out += [f"problem   {escape_text(str(p), 400)}" for p in report.problems]
    for s in statuses:
        since = (f"since {escape_text(s.since, 40)} (v{s.version})" if s.since is not None
                 else "since: not known from the journal")
        out.append(f"{escape_text(s.scope, 80):<14}  {escape_text(s.phase, 40):<10}  {since}")
        if plan is None:
            continue
        if s.plan_step is None:
            out.append(f"  plan '{plan.name}': off plan in {escape_text(s.phase, 40)}")
            continue
        head = f"  plan '{plan.name}': step {s.plan_step + 1}/{s.plan_steps}"
        if s.next_trigger is None:
            out.append(f"{head}, complete")
            continue
        blocked = [c for c in s.criteria if c.state == "blocked"]
        unknown = [c for c in s.criteria if c.state == "unknown"]
        verdict = (f"blocked by {len(blocked)}" if blocked
                   else "ready, as far as the journal shows" if unknown else "ready")
        out.append(f"{head}; next: {s.next_trigger} -> {s.next_phase}: {verdict}")
        for c in s.criteria:
            code = f" -> {c.code}" if c.code else ""
            out.append(f"    {c.state:<8} {c.guard}: {c.detail}{code}")
    if plan is None:
        out.append("plan      none: the default restart plan's steps do not fit this policy")
    return out
