"""Import hand-made BPMN (bpmn-js, Camunda Modeler) as a process document, and back.

An imported diagram becomes a process *document*, validated and compiled like any other:
its user tasks, in flow order from the start event, become steps. Nothing of the file is
executed as it is, so a diagram cannot smuggle a script or an ``eval`` condition in; the
conditions it keeps (a gateway condition in front of a user task becomes the step's
criteria) must compile in the expression sandbox when the document is saved.

What is read: ``name`` and ``documentation`` (labels and description), the multi-instance
marker (sequential, or parallel with a completion condition ending at the first vote =
``any``), Camunda's ``assignee`` / ``candidateUsers`` / ``candidateGroups`` attributes
(users and a role), and the ``crmforge:step`` / ``crmforge:process`` attributes our own
export writes, which carry the step exactly (modes, pass rates, approvers, timeouts), so
export followed by import gives the same document. The designer's BPMN editor writes the
same ``crmforge:step`` attribute on the tasks an administrator draws; their criteria may
instead sit on the gateway's flow into the task. Diagram interchange is ignored.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

from lxml import etree

from ..core.errors import ValidationFailed
from .bpmn import BPMN, CRMFORGE

CAMUNDA = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _q(tag: str, ns: str = BPMN) -> str:
    return f"{{{ns}}}{tag}"


def _camunda(el: Any, attr: str) -> str | None:
    for ns in CAMUNDA:
        value = el.get(f"{{{ns}}}{attr}")
        if value:
            return str(value)
    return None


def _step_name(raw: str, taken: set[str]) -> str:
    name = raw[len("task_"):] if raw.startswith("task_") else raw
    name = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name or not name[0].isalpha():
        name = "step_" + name
    name = name[:30].rstrip("_")
    base, n = name, 2
    while name in taken:
        name = f"{base[:27]}_{n}"
        n += 1
    taken.add(name)
    return name


def _doc_text(el: Any) -> str | None:
    d = el.find(_q("documentation"))
    return d.text.strip()[:200] if d is not None and d.text and d.text.strip() else None


def import_bpmn(xml: bytes, name: str, object_name: str) -> dict[str, Any]:
    """A process document from a BPMN file (validated later, when it is saved)."""
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise ValidationFailed(f"the BPMN file is not XML: {exc}"[:300], {"bpmn": ["not XML"]}
                               ) from None
    process = root.find(_q("process"))
    if process is None:
        raise ValidationFailed("the BPMN file has no process", {"bpmn": ["no process"]})
    extra = process.get(_q("process", CRMFORGE))
    doc: dict[str, Any] = json.loads(extra) if extra else {}
    doc["name"] = name or doc.get("name") or ""
    doc["object"] = object_name or doc.get("object") or ""
    if not extra:  # our own attribute is exact: the element's name is only its label's echo
        if process.get("name") and "label" not in doc:
            doc["label"] = {"en": process.get("name")[:200]}
        if _doc_text(process) and "description" not in doc:
            doc["description"] = {"en": _doc_text(process)}
    doc["steps"] = _steps(process)
    if not doc["steps"]:
        raise ValidationFailed("the BPMN process has no user task to turn into a step",
                               {"bpmn": ["no user task"]})
    return doc


def _steps(process: Any) -> list[dict[str, Any]]:
    by_id = {el.get("id"): el for el in process if el.get("id")}
    flows = [el for el in process if el.tag == _q("sequenceFlow")]
    out_of: dict[str, list[Any]] = {}
    into: dict[str, list[Any]] = {}
    for f in flows:
        out_of.setdefault(f.get("sourceRef"), []).append(f)
        into.setdefault(f.get("targetRef"), []).append(f)
    starts = [el.get("id") for el in process if el.tag == _q("startEvent")]
    seen: set[str] = set()
    queue = deque(starts)
    order: list[Any] = []
    while queue:
        node = queue.popleft()
        if node in seen or node not in by_id:
            continue
        seen.add(node)
        if by_id[node].tag == _q("userTask"):
            order.append(by_id[node])
        queue.extend(f.get("targetRef") for f in out_of.get(node, []))
    taken: set[str] = set()
    return [_step(task, into, by_id, taken) for task in order]


def _step(task: Any, into: dict[str, list[Any]], by_id: dict[str, Any], taken: set[str]
          ) -> dict[str, Any]:
    own = task.get(_q("step", CRMFORGE))
    step: dict[str, Any] = json.loads(own) if own else {}
    step["name"] = _step_name(step.get("name") or task.get("id"), taken)
    if "criteria" not in step:  # a drawn step's condition sits on the gateway's flow
        criteria = _gateway_condition(task, into, by_id)
        if criteria:
            step["criteria"] = criteria
    if own:
        return step
    if task.get("name"):
        step["label"] = {"en": task.get("name")[:200]}
    loop = task.find(_q("multiInstanceLoopCharacteristics"))
    if loop is None:
        step["mode"] = "single"
    elif loop.get("isSequential") == "true":
        step["mode"] = "sequential"
    else:
        cond = loop.find(_q("completionCondition"))
        step["mode"] = "any" if cond is not None and ">= 1" in (cond.text or "") else "all"
    approvers: dict[str, Any] = {}
    users = [u for u in [_camunda(task, "assignee")] if u and not u.startswith("$")]
    users += [u.strip() for u in (_camunda(task, "candidateUsers") or "").split(",")
              if u.strip() and not u.strip().startswith("$")]
    if users:
        approvers["users"] = list(dict.fromkeys(users))
    groups = [g.strip() for g in (_camunda(task, "candidateGroups") or "").split(",") if g.strip()]
    if groups:
        approvers["role"] = groups[0]
    step["approvers"] = approvers or {"manager": True}
    return step


def _gateway_condition(task: Any, into: dict[str, list[Any]], by_id: dict[str, Any]
                       ) -> str | None:
    """The condition of an exclusive gateway's flow into the task (the last one wins)."""
    found = None
    for f in into.get(task.get("id"), []):
        source = by_id.get(f.get("sourceRef"))
        cond = f.find(_q("conditionExpression"))
        if source is not None and source.tag == _q("exclusiveGateway") and cond is not None \
                and (cond.text or "").strip():
            found = cond.text.strip()
    return found


__all__ = ["import_bpmn"]
