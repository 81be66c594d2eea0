"""Text views of a policy for people: the acceptance matrix, the transition graph, requests.

Pure functions from a `Policy` to strings (the command line prints them; the docs embed them).
The matrix groups the request kinds so that it stays readable: origins that every phase treats
alike share a section, a row is one action and order type (its times in force merged while the
verdicts agree), and a cell says whether the phase accepts the row's requests, or only with the
post-only ("PO") or reduce-only ("RO") flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from .._core.codes import Reason
from .._core.model import (
    ALL_KINDS,
    ORDER_ACTIONS,
    Action,
    OrderType,
    Origin,
    RequestKind,
    TimeInForce,
)
from .._core.policy import Policy

YES: Final = "✓"
NO: Final = "✗"
LEGEND: Final = (
    f"{YES} accepted · {NO} rejected · PO only with post-only set · RO only with reduce-only set · "
    "some: only some requests of the row (ask `explain`)"
)


@attrs.frozen
class MatrixRow:
    """One row of the acceptance matrix: a label and one cell per phase (or a section title)."""

    label: str
    cells: tuple[str, ...] = ()

    @property
    def is_section(self) -> bool:
        """Whether this row only titles the rows after it."""
        return not self.cells


_ACTION_LABEL: Final = {Action.NEW_ORDER: "new", Action.AMEND: "amend"}
_TYPE_LABEL: Final = {OrderType.LIMIT: "limit", OrderType.MARKET: "market",
                      OrderType.STOP_MARKET: "stop-market", OrderType.STOP_LIMIT: "stop-limit"}


_Base = tuple[Action, OrderType | None, TimeInForce | None]


def _base(kind: RequestKind) -> _Base:
    return kind.action, kind.order_type, kind.time_in_force


def _origin_classes(policy: Policy) -> list[tuple[Origin, ...]]:
    """Origins grouped by identical verdicts in every phase, in `Origin` order."""
    classes: dict[tuple[object, ...], list[Origin]] = {}
    for origin in Origin:
        signature = tuple(
            (phase, _base(k), k.post_only, k.reduce_only, policy.verdicts(phase)[i][0])
            for phase in policy.phase_names for i, k in enumerate(ALL_KINDS) if k.origin is origin
        )
        classes.setdefault(signature, []).append(origin)
    return [tuple(group) for group in classes.values()]


def _cell(kinds: Sequence[RequestKind], accepted: set[RequestKind]) -> str:
    chosen = {k for k in kinds if k in accepted}
    if len(chosen) == len(kinds):
        return YES
    if not chosen:
        return NO
    for label, po, ro in (("PO", True, False), ("RO", False, True), ("PO+RO", True, True)):
        if chosen == {k for k in kinds if (k.post_only or not po) and (k.reduce_only or not ro)}:
            return label
    return "some"


def _mergeable(a: _Base, b: _Base) -> bool:
    """Rows merge (when their cells agree) within one order action, or among non-order actions."""
    if a[0] in ORDER_ACTIONS or b[0] in ORDER_ACTIONS:
        return a[0] is b[0]
    return True


def _label(bases: Sequence[_Base]) -> str:
    action = bases[0][0]
    if action not in ORDER_ACTIONS:
        return ", ".join(b[0].name.lower().replace("_", " ") for b in bases)
    by_type: dict[OrderType, list[TimeInForce]] = {}
    for _, order_type, tif in bases:
        if order_type is not None and tif is not None:  # always, for an order action
            by_type.setdefault(order_type, []).append(tif)
    parts = []
    for order_type, tifs in by_type.items():
        every = {k.time_in_force for k in ALL_KINDS
                 if k.action is action and k.order_type is order_type}
        suffix = "" if set(tifs) == every else " " + "/".join(t.name for t in tifs)
        parts.append(_TYPE_LABEL[order_type] + suffix)
    return f"{_ACTION_LABEL[action]} {', '.join(parts)}"


def matrix_rows(policy: Policy) -> list[MatrixRow]:
    """The acceptance matrix of `policy`: request groups by phases, then the engine's activities."""
    phases = policy.phase_names
    accepted = {p: {ALL_KINDS[i] for i in policy.accepted_keys(p)} for p in phases}
    classes = _origin_classes(policy)
    rows: list[MatrixRow] = []
    for group in classes:
        if len(classes) > 1:
            rows.append(MatrixRow("from " + ", ".join(o.name.lower() for o in group)))
        origin = group[0]
        bases: dict[_Base, list[RequestKind]] = {}
        for kind in ALL_KINDS:
            if kind.origin is origin:
                bases.setdefault(_base(kind), []).append(kind)
        merged: list[tuple[list[_Base], tuple[str, ...]]] = []
        for base, kinds in bases.items():
            cells = tuple(_cell(kinds, accepted[p]) for p in phases)
            if merged and merged[-1][1] == cells and _mergeable(merged[-1][0][-1], base):
                merged[-1][0].append(base)
            else:
                merged.append(([base], cells))
        rows.extend(MatrixRow(_label(items), cells) for items, cells in merged)
    rows.append(MatrixRow("the engine itself"))
    for capability, label in (("matching", "matching runs"), ("stop_triggers", "stops trigger"),
                              ("liquidations", "liquidations run")):
        rows.append(MatrixRow(label, tuple(
            YES if capability in policy.phase(p).capabilities else NO for p in phases)))
    return rows




def matrix_table(policy: Policy) -> str:
    """The acceptance matrix as a plain-text table for a terminal."""
    rows = matrix_rows(policy)
    phases = policy.phase_names
    width = max(len("request"), *(len(r.label) for r in rows if not r.is_section))
    widths = [max(len(p), 5) for p in phases]

    def line(label: str, cells: Iterable[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return "  ".join([label.ljust(width), *padded]).rstrip()

    out = [line("request", phases), line("-" * width, ("-" * w for w in widths))]
    out.extend(f"[{r.label}]" if r.is_section else line(r.label, r.cells) for r in rows)
    out += ["", LEGEND]
    return "\n".join(out) + "\n"


def matrix_markdown(policy: Policy) -> str:
    """The acceptance matrix as a Markdown table."""
    phases = policy.phase_names
    out = ["| request | " + " | ".join(phases) + " |", "|---|" + "---|" * len(phases)]
    for row in matrix_rows(policy):
        if row.is_section:
            out.append(f"| **{row.label}** |" + " |" * len(phases))
        else:
            out.append(f"| {row.label} | " + " | ".join(row.cells) + " |")
    out.append("")
    out.append(LEGEND)
    return "\n".join(out) + "\n"


def matrix_data(policy: Policy) -> dict[str, object]:
    """Every request kind's verdict in every phase, for scripts (`--json`)."""
    kinds = []
    for key, kind in enumerate(ALL_KINDS):
        verdicts = {}
        for phase in policy.phase_names:
            reason, detail = policy.verdicts(phase)[key]
            verdicts[phase] = {"accepted": reason is Reason.ACCEPTED, "reason": reason.value,
                               "detail": detail}
        kinds.append({
            "key": key, "request": kind.describe(), "action": kind.action.name,
            "order_type": _name(kind.order_type), "time_in_force": _name(kind.time_in_force),
            "post_only": kind.post_only, "reduce_only": kind.reduce_only,
            "origin": kind.origin.name, "verdicts": verdicts,
        })
    capabilities = {p: sorted(policy.phase(p).capabilities) for p in policy.phase_names}
    return {"policy": policy.name, "phases": list(policy.phase_names), "kinds": kinds,
            "capabilities": capabilities}


def _name(value: OrderType | TimeInForce | None) -> str | None:
    return None if value is None else value.name


# -- the transition graph ----------------------------------------------------------------------

_MATCHING_FILL: Final = "#d8f3dc"
_STOPPED_FILL: Final = "#f8d7da"


def _edge_label(trigger: str, guards: Sequence[str]) -> str:
    return trigger + (f" [{', '.join(guards)}]" if guards else "")


def diagram_mermaid(policy: Policy) -> str:
    """The transition graph as a Mermaid state diagram (plain text; no graphviz needed).

    Phases that match orders are green, the others red; guards are shown in brackets.
    """
    out = ["stateDiagram-v2", "    direction LR", f"    [*] --> {policy.initial}"]
    out.extend(f"    {t.source} --> {t.dest} : {_edge_label(t.trigger, t.guards)}"
               for t in policy.transitions)
    out.append(f"    note right of {policy.fail_safe} : fail-safe")
    matching = [p.name for p in policy.phases if p.matching]
    stopped = [p.name for p in policy.phases if not p.matching]
    out.append(f"    classDef matching fill:{_MATCHING_FILL},color:#000")
    out.append(f"    classDef stopped fill:{_STOPPED_FILL},color:#000")
    if matching:
        out.append(f"    class {', '.join(matching)} matching")
    if stopped:
        out.append(f"    class {', '.join(stopped)} stopped")
    return "\n".join(out) + "\n"


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def diagram_dot(policy: Policy) -> str:
    """The transition graph in Graphviz DOT (text only; render it with ``dot -Tsvg``)."""
    out = [f"digraph {_dot_id(policy.name)} {{", "    rankdir=LR;",
           '    node [shape=box, style="rounded,filled", fontname="Helvetica"];',
           '    edge [fontname="Helvetica"];',
           '    __start [shape=point, label=""];',
           f"    __start -> {_dot_id(policy.initial)};"]
    for phase in policy.phases:
        fill = _MATCHING_FILL if phase.matching else _STOPPED_FILL
        extra = ", peripheries=2" if phase.name == policy.fail_safe else ""
        out.append(f"    {_dot_id(phase.name)} [fillcolor={_dot_id(fill)}, "
                   f"tooltip={_dot_id(phase.description)}{extra}];")
    out.extend(f"    {_dot_id(t.source)} -> {_dot_id(t.dest)} "
               f"[label={_dot_id(_edge_label(t.trigger, t.guards))}];"
               for t in policy.transitions)
    out.append("}")
    return "\n".join(out) + "\n"
