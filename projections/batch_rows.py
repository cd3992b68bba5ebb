"""A batch of facts and alerts folded into the rows it writes, table by table (pure: no database).

The batch writer (:mod:`projections.batch_write`) sends each table's rows in one statement, so
whatever depends on the order of the facts is settled here, by walking the batch in order exactly
as :mod:`projections.apply` applies it one fact at a time:

* a deal's columns end as the last fact in the batch left them (a deal created, updated and
  advanced in one batch ends advanced), and a fact about a deal that does not exist yet changes
  no deal column;
* a refused command records the deal's stage and owner as they were at that point;
* ``last_activity_at``, ``updated_at`` and ``last_buyer_response_at`` only ever grow, so the
  moments that may raise them are collected and PostgreSQL takes the greatest;
* an invalidation reaches the evidence stored before the batch and, of the batch's own, only
  what came before it (``late_invalidations`` pairs them up);
* alerts with the same ``alert_id`` collapse into one row as :func:`projections.alert_rows.merge`
  folds them one after the other (the newest record's columns), and each record gives one
  ``alert_changes`` row (the first of a key);
* ``alert.acknowledged`` and ``alert.snoozed`` facts give ``alert_actions`` rows, ``intervention.recorded``
  ``interventions`` rows; ``blocker.identified`` and ``blocker.resolved`` of one blocker collapse into one
  ``blockers`` row as :func:`projections.manager_rows.merge_blocker` folds them; facts of other types give
  none of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from processors.core.engagement_kinds import (
    engagement_contacts,
    is_buyer_engagement,
    is_buyer_response,
    is_outbound_touch,
)
from projections.alert_rows import CHANGE_KEY, alert_row, change_row, json_text, merge
from projections.apply import ALERT_ACTIONS, DEAL_COLUMNS, STAGE_KINDS, TERMINAL, action_row
from projections.manager_rows import BLOCKER_FACTS, blocker_row, intervention_row, merge_blocker

Row = dict[str, Any]

DEAL_STATE = ("name", "owner_id", "amount", "currency", "stage", "status", "stage_entered_at", "close_date",
              "next_step_description", "next_step_due", "created_at", "updated_at", "last_activity_at",
              "last_buyer_response_at")
"""The deal columns a batch carries forward (the criteria are recomputed after the batch)."""


@dataclass
class BatchRows:
    """Every row one batch writes, as tuples in each table's column order (see ``batch_write``)."""

    stage_entries: list[tuple[Any, ...]] = field(default_factory=list)
    stage_history: list[tuple[Any, ...]] = field(default_factory=list)
    close_date_changes: list[tuple[Any, ...]] = field(default_factory=list)
    engagement: list[tuple[Any, ...]] = field(default_factory=list)
    evidence: list[tuple[Any, ...]] = field(default_factory=list)
    invalidations: list[tuple[Any, ...]] = field(default_factory=list)
    """(deal_id, criterion, invalidated at): reaching the evidence stored before the batch."""
    late_invalidations: list[tuple[Any, ...]] = field(default_factory=list)
    """(event_id, deal_id, criterion, invalidated at): the batch's evidence an invalidation after it may reach."""
    gate_rejections: list[tuple[Any, ...]] = field(default_factory=list)
    alert_actions: list[tuple[Any, ...]] = field(default_factory=list)
    interventions: list[tuple[Any, ...]] = field(default_factory=list)
    blockers: dict[tuple[str, str], Row] = field(default_factory=dict)
    """One collapsed ``blockers`` row per (``deal_id``, ``blocker_id``), in first-seen order."""
    deals: dict[str, Row] = field(default_factory=dict)
    """Each deal the batch knows, by id: its columns (``DEAL_STATE``) after the batch."""
    moments: set[tuple[str, Any, bool]] = field(default_factory=set)
    """(deal_id, moment, is a buyer response): moments that raise the deal's activity columns."""
    alerts: dict[str, Row] = field(default_factory=dict)
    """One collapsed ``alerts`` row per ``alert_id``, in first-seen order."""
    alert_changes: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    """One ``alert_changes`` row per key (``alert_id``, ``revision``, ``status``, moment), in first-seen order."""
    evidence_ids: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """The batch's evidence so far, by (deal_id, criterion)."""


def new_deal(fact: Row) -> Row:
    """A deal's columns as ``deal.created`` inserts them."""
    at = fact["occurred_at"]
    return {"name": fact["name"], "owner_id": fact["owner_id"], "amount": fact["amount"],
            "currency": fact["currency"], "stage": fact["stage"], "status": "open", "stage_entered_at": at,
            "close_date": fact["close_date"], "next_step_description": None, "next_step_due": None,
            "created_at": at, "updated_at": at, "last_activity_at": at, "last_buyer_response_at": None}


def _created(rows: BatchRows, fact: Row) -> None:
    via = "imported" if fact.get("imported") else "created"
    rows.stage_entries.append((fact["event_id"], fact["deal_id"], fact["stage"], fact["occurred_at"], via))
    if fact["deal_id"] not in rows.deals:
        rows.deals[fact["deal_id"]] = new_deal(fact)


def _updated(rows: BatchRows, fact: Row) -> None:
    changes: Row = {}
    for name, change in fact["changes"].items():
        new = change["new"]
        if name == "close_date":
            rows.close_date_changes.append(
                (fact["event_id"], fact["deal_id"], change["old"], new, fact["occurred_at"]))
        if name == "next_step":
            changes |= {"next_step_description": new["description"], "next_step_due": new["due_date"]}
        elif name in DEAL_COLUMNS:
            changes[DEAL_COLUMNS[name]] = new
    deal = rows.deals.get(fact["deal_id"])
    if deal is not None:
        deal.update(changes)


def _stage_changed(rows: BatchRows, fact: Row) -> None:
    kind = STAGE_KINDS[fact["type"]]
    rows.stage_history.append((fact["event_id"], fact["deal_id"], fact["from_stage"], fact["to_stage"], kind,
                               fact.get("reason"), fact["occurred_at"], fact["days_in_from_stage"]))
    deal = rows.deals.get(fact["deal_id"])
    if fact["type"] in TERMINAL:
        if deal is not None:
            deal["status"] = TERMINAL[fact["type"]]
        return
    rows.stage_entries.append((fact["event_id"], fact["deal_id"], fact["to_stage"], fact["occurred_at"], kind))
    next_step = fact.get("next_step")
    if deal is not None:
        deal |= {"stage": fact["to_stage"], "stage_entered_at": fact["occurred_at"]}
        if next_step:
            deal |= {"next_step_description": next_step["description"], "next_step_due": next_step["due_date"]}


def _evidence(rows: BatchRows, fact: Row) -> None:
    evidence = fact["evidence"]
    rows.evidence.append((fact["event_id"], fact["deal_id"], fact["criterion"], evidence["kind"],
                          evidence["reference"], evidence.get("summary"), fact["recorded_by"],
                          fact["occurred_at"], fact["source_event_id"]))
    rows.evidence_ids.setdefault((fact["deal_id"], fact["criterion"]), []).append(fact["event_id"])


def _invalidated(rows: BatchRows, fact: Row) -> None:
    key = (fact["deal_id"], fact["criterion"])
    rows.invalidations.append((*key, fact["occurred_at"]))
    rows.late_invalidations += [(event_id, *key, fact["occurred_at"]) for event_id in rows.evidence_ids.get(key, ())]


def _engagement(rows: BatchRows, fact: Row) -> None:
    engagement = fact["engagement"]
    contacts = engagement_contacts(engagement)
    buyer_response = is_buyer_response(engagement)
    rows.engagement.append((fact["event_id"], fact["deal_id"], fact["engagement_type"],
                            contacts[0] if contacts else None, fact["occurred_at"], buyer_response,
                            is_buyer_engagement(engagement), is_outbound_touch(engagement)))
    if buyer_response and fact["deal_id"] in rows.deals:
        rows.moments.add((fact["deal_id"], fact["occurred_at"], True))


def _rejected(rows: BatchRows, fact: Row) -> None:
    deal = rows.deals.get(fact["deal_id"])
    rows.gate_rejections.append((
        fact["event_id"], fact["deal_id"], fact["command_type"], json_text(fact["requested"]), fact["reason"],
        fact["message"], fact["missing_criteria"], fact["missing_fields"],
        deal["stage"] if deal else None, deal["owner_id"] if deal else None, fact["occurred_at"]))


def _alert_action(rows: BatchRows, fact: Row) -> None:
    rows.alert_actions.append(action_row(fact))


def _blocker(rows: BatchRows, fact: Row) -> None:
    row = blocker_row(fact)
    key = (row["deal_id"], row["blocker_id"])
    seen = rows.blockers.get(key)
    rows.blockers[key] = row if seen is None else merge_blocker(seen, row)


def _intervention(rows: BatchRows, fact: Row) -> None:
    rows.interventions.append(intervention_row(fact))


_FOLD: dict[str, Callable[[BatchRows, Row], None]] = {
    "deal.created": _created,
    "deal.updated": _updated,
    "evidence.recorded": _evidence,
    "evidence.invalidated": _invalidated,
    "engagement.recorded": _engagement,
    "command.rejected": _rejected,
    **{name: _stage_changed for name in STAGE_KINDS},
    **{name: _alert_action for name in ALERT_ACTIONS},
    **{name: _blocker for name in BLOCKER_FACTS},
    "intervention.recorded": _intervention,
}


def _alert(rows: BatchRows, alert: Row) -> None:
    row = alert_row(alert)
    seen = rows.alerts.get(row["alert_id"])
    rows.alerts[row["alert_id"]] = row if seen is None else merge(seen, row)
    change = change_row(alert, row)
    rows.alert_changes.setdefault(change[:CHANGE_KEY], change)


def fold_batch(items: list[tuple[str, Row]], fresh: set[int], deals: dict[str, Row]) -> BatchRows:
    """Fold ("fact" | "alert", payload) pairs, in order, into the rows they write.

    ``fresh`` holds the ``id()`` of the facts to apply (the others were applied before);
    ``deals`` the stored columns (``DEAL_STATE``) of the deals those facts name, which the fold
    carries forward (and changes in place).
    """
    rows = BatchRows(deals=deals)
    for kind, payload in items:
        if kind == "alert":
            _alert(rows, payload)
        elif id(payload) in fresh:
            fold = _FOLD.get(payload["type"])
            if fold is not None:
                fold(rows, payload)
            if payload.get("caused_by") and payload["deal_id"] in rows.deals:
                rows.moments.add((payload["deal_id"], payload["occurred_at"], False))
    return rows
