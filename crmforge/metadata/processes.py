"""Approval process documents (DESIGN §7): structure and references, checked when saved.

A process names its object, entry criteria and steps; each step names how its approvers
are found and how their votes decide. Process documents live in the snapshot's
``processes`` list, versioned with the rest of the metadata like roles. Expressions are
checked by the workflow layer (metadata cannot import the expression compiler); this
module checks everything else and reports every problem keyed by JSON path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.names import NAME_PATTERN
from .model import FieldDef, ObjectDef, Snapshot
from .validation import Problems, object_document

MODES = ("single", "any", "all", "sequential")
#: The key of ``on_approve`` / ``on_reject`` that transfers the record's owner: its
#: expression gives a user id or a username (a system field name, so never a field's).
OWNER_UPDATE = "owner_id"
#: Separates a lookup from the field of the record it points to in an update key
#: (``investor.broker``): approving may change that record too (``related_update``).
RELATED = "."
#: How an approver who already approved an earlier step is treated (decision 0026).
REPEATED_APPROVER = ("never_skip", "adjacent", "first")
#: Escalation targets besides a username.
ESCALATE_KEYWORDS = ("manager", "admin")


def process_docs(snapshot: Snapshot) -> dict[str, Mapping[str, Any]]:
    return {p["name"]: p for p in snapshot.data.get("processes", [])}


def prepare_process(doc: Any, snapshot: Snapshot, *, existing: str | None = None) -> dict[str, Any]:
    """Validate a process document against the tenant's objects and roles; all errors at once.

    Returns a normalized copy (``mode`` defaults to ``single``). Expressions are only
    checked for syntax here; ``crmforge.workflow.definitions`` compiles them.
    """
    out, problems, obj = object_document(doc, "process", "a process", "processes",
                                         process_docs(snapshot), existing, snapshot)
    roles = {r["name"] for r in snapshot.data.get("roles", [])}
    for i, role in enumerate(out.get("submitters", {}).get("roles", [])):
        if role not in roles:
            problems.add(f"$.submitters.roles[{i}]", f"no role named '{role[:40]}'")
    seen: set[str] = set()
    for i, step in enumerate(out["steps"]):
        _check_step(problems, f"$.steps[{i}]", step, i, obj, roles, seen)
    _check_parallel(problems, out["steps"])
    for key in ("on_approve", "on_reject"):
        for field in out.get(key, {}):
            if RELATED in field:
                found = related_update(obj, field, snapshot)
                if isinstance(found, str):
                    problems.add(f"$.{key}.{field}", found)
            elif field != OWNER_UPDATE:
                _check_writable(problems, f"$.{key}.{field}", obj, field)
    if "cc" in out:
        _check_cc(problems, "$.cc", out["cc"], obj, roles)
    for i, field in enumerate(out.get("allow_changes", [])):
        f = obj.field(field)
        if f is None:
            problems.add(f"$.allow_changes[{i}]", f"'{obj.name}' has no field '{field[:40]}'")
        elif not f.kind.writable:
            problems.add(f"$.allow_changes[{i}]", f"'{field}' is computed and never edited")
    problems.raise_if_any("the process")
    return out


def _check_step(problems: Problems, path: str, step: dict[str, Any], index: int, obj: ObjectDef,
                roles: set[str], seen: set[str]) -> None:
    name = step["name"]
    if not NAME_PATTERN.fullmatch(name) or "__" in name or len(name) > 30:
        problems.add(path + ".name", "a step name has lowercase ASCII letters, digits and '_' "
                                     "(at most 30)")
    if name in seen:
        problems.add(path + ".name", f"two steps are named '{name}'")
    seen.add(name)
    step.setdefault("mode", "single")
    if "pass_rate" in step and step["mode"] != "all":
        problems.add(path + ".pass_rate", "a pass rate only applies to the 'all' mode")
    approvers = step["approvers"]
    _check_role_and_field(problems, path + ".approvers", approvers, obj, roles)
    if approvers.get("chosen_by_previous") and index == 0:
        problems.add(path + ".approvers.chosen_by_previous", "the first step has no previous "
                                                             "approver to choose")
    if not any(approvers.get(k) for k in ("users", "role", "manager", "department_head", "field",
                                          "chosen_by_previous")):
        problems.add(path + ".approvers", "name at least one way to find approvers")
    for field, access in (step.get("fields") or {}).items():
        f = obj.field(field)
        if f is None:
            problems.add(f"{path}.fields.{field}", f"'{obj.name}' has no field '{field[:40]}'")
        elif access == "edit" and not f.kind.writable:
            problems.add(f"{path}.fields.{field}", f"'{field}' is computed and never edited")
    if "cc" in step:
        _check_cc(problems, path + ".cc", step["cc"], obj, roles)
    escalate = step.get("timeout", {}).get("escalate_to")
    timeout = step.get("timeout", {})
    if escalate is not None and "escalate_after_hours" not in timeout:
        problems.add(path + ".timeout.escalate_to", "set escalate_after_hours too")
    if "escalate_after_hours" in timeout and escalate is None:
        timeout["escalate_to"] = "manager"


def parallel_groups(steps: Sequence[Any]) -> list[tuple[str | None, list[Any]]]:
    """The steps as they run: each alone, or a parallel group (steps next to each other
    naming the same ``parallel`` group), in order."""
    units: list[tuple[str | None, list[Any]]] = []
    for step in steps:
        group = step.get("parallel") or None
        if group is not None and units and units[-1][0] == group:
            units[-1][1].append(step)
        else:
            units.append((group, [step]))
    return units


def _check_parallel(problems: Problems, steps: list[Any]) -> None:
    """A group's steps stand next to each other, two at least; nobody in a group, or just
    after one, is chosen by "the previous approver" (there are several)."""
    met: set[str] = set()
    after_group = False
    index = 0
    for group, members in parallel_groups(steps):
        if group is not None:
            path = f"$.steps[{index}].parallel"
            if group in met:
                problems.add(path, f"the steps of the parallel group '{group}' must stand next "
                                   "to each other")
            elif len(members) < 2:
                problems.add(path, f"the parallel group '{group}' needs two steps or more")
            met.add(group)
        for k, step in enumerate(members):
            if (group is not None or (after_group and k == 0)) \
                    and step["approvers"].get("chosen_by_previous"):
                problems.add(f"$.steps[{index + k}].approvers.chosen_by_previous",
                             "a step in or right after a parallel group has no single "
                             "previous approver to choose")
        after_group = group is not None
        index += len(members)


def _check_cc(problems: Problems, path: str, cc: dict[str, Any], obj: ObjectDef,
              roles: set[str]) -> None:
    """A copy (抄送) names somebody: users, a role or a user field (users exist and the
    role has members: checked with the database by ``workflow.definitions``)."""
    if not (cc.get("users") or cc.get("role") or cc.get("field")):
        problems.add(path, "a copy (cc) names users, a role or a user field; it names nobody")
        return
    _check_role_and_field(problems, path, cc, obj, roles)


def _check_role_and_field(problems: Problems, path: str, people: dict[str, Any],
                          obj: ObjectDef, roles: set[str]) -> None:
    """People named by a role (which must exist) or a user field of the record (which must
    be one): approvers and copies name them alike."""
    role = people.get("role")
    if role is not None and role not in roles:
        problems.add(path + ".role", f"no role named '{role[:40]}'")
    field = people.get("field")
    if field is not None:
        f = obj.field(field)
        if f is None:
            problems.add(path + ".field", f"'{obj.name}' has no field '{field[:40]}'")
        elif f.type != "user":
            problems.add(path + ".field", f"'{field}' is a {f.type} field, not a user field")


def related_update(obj: ObjectDef, key: str, snapshot: Snapshot
                   ) -> tuple[FieldDef, ObjectDef, str] | str:
    """An update key ``<lookup>.<field>`` (or ``<lookup>.owner_id``): the lookup field of
    ``obj``, the object it points to and the field to set there; or why the key is wrong.

    Approving a request often has to change another record: an approved client
    reassignment moves the client to the new broker, not only the request. One hop only,
    through a lookup the process's object has, so what an approval may change is read off
    its own document."""
    lookup_name, _, field = key.partition(RELATED)
    lookup = obj.field(lookup_name)
    if lookup is None:
        return f"'{obj.name}' has no field '{lookup_name[:40]}'"
    target = snapshot.object(lookup.target or "") \
        if lookup.kind.expression_type == "reference" else None
    if target is None or lookup.type not in ("lookup", "master_detail"):
        return f"'{lookup_name}' is no lookup: only a record a lookup points to can be updated"
    if field == OWNER_UPDATE:
        return lookup, target, field
    f = target.field(field)
    if f is None:
        return f"'{target.name}' has no field '{field[:40]}'"
    if not f.kind.writable:
        return f"'{field}' of '{target.name}' is a {f.type} field and computed"
    return lookup, target, field


def _check_writable(problems: Problems, path: str, obj: ObjectDef, field: str) -> None:
    f = obj.field(field)
    if f is None:
        problems.add(path, f"'{obj.name}' has no field '{field[:40]}'")
    elif not f.kind.writable:
        problems.add(path, f"'{field}' is a {f.type} field and computed")


__all__ = ["ESCALATE_KEYWORDS", "MODES", "OWNER_UPDATE", "RELATED", "REPEATED_APPROVER",
           "parallel_groups", "prepare_process", "process_docs", "related_update"]
