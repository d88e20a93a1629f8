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

Nothing else of a file is dropped without a word (``read_bpmn``): every other element is
either refused, named, when dropping it would change who approves or which way a record
goes (sub-processes, call activities, parallel or inclusive branches, boundary and
catching events, loops, Camunda ``${...}`` expressions, conditions that do not lead to an
approval task, tasks the start never reaches, a second process with approval tasks), or
imported with a warning naming it when the approval runs the same without it (service,
script and other non-approval tasks, which are not run; lanes, annotations, data objects,
vendor extensions; end and start event triggers). Messages are English, the API's
language; pages show them translated (``web.pages.server_messages``).
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass
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


@dataclass(frozen=True)
class LeftOut:
    """An element of the file the imported process does without, and why."""

    element: str  # its id
    type: str  # its BPMN element type (``serviceTask``)
    name: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"element": self.element, "type": self.type, "name": self.name,
                "message": self.message}


@dataclass(frozen=True)
class Imported:
    """What a BPMN file gives: the process document and the elements left out."""

    doc: dict[str, Any]
    warnings: tuple[LeftOut, ...]


def import_bpmn(xml: bytes, name: str, object_name: str) -> dict[str, Any]:
    """A process document from a BPMN file (validated later, when it is saved); what it
    leaves out is in ``read_bpmn``'s warnings."""
    return read_bpmn(xml, name, object_name).doc


def read_bpmn(xml: bytes, name: str, object_name: str) -> Imported:
    """A process document from a BPMN file, and the elements it does without; refused
    (422, each element named under ``bpmn``) when it holds what the engine cannot run."""
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
    review = _Review(process, own=bool(extra))
    review.processes([p for p in root.findall(_q("process")) if p is not process])
    review.elements()
    doc["steps"] = _steps(process, review)
    review.raise_refusals()
    if not doc["steps"]:
        raise ValidationFailed("the BPMN process has no user task to turn into a step",
                               {"bpmn": ["no user task"]})
    return Imported(doc, tuple(review.warnings))


# -- what the engine cannot run, and what it does without ---------------------------------
_NOT_RUN = {"task", "manualTask", "serviceTask", "scriptTask", "sendTask", "receiveTask",
            "businessRuleTask", "intermediateThrowEvent"}
_SUB = {"subProcess", "adHocSubProcess", "transaction", "callActivity"}
_BRANCHES = {"parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
_EVENTS = {"boundaryEvent", "intermediateCatchEvent"}
#: What the engine runs (or reads: documentation); every other element not named above is
#: ignored with a warning naming it (lanes, annotations, data objects, ...).
_KEPT = {"startEvent", "endEvent", "userTask", "sequenceFlow", "exclusiveGateway",
         "documentation"}
#: Ids our own exports used for the engine's elements (files exported before the export
#: showed only the steps drawn): known, so neither refused nor warned about.
_OWN = re.compile(r"(start|end_approved|end_rejected|end_returned"
                  r"|(gw|prep|decide|split|join|merge)_.+|flow_\d+)")
_EXPRESSION = re.compile(r"[$#]\{")
#: A completion condition that ends a step at the first vote (``any``).
_FIRST_VOTE = re.compile(r"^\s*[$#]\{\s*nrOfCompletedInstances\s*(>=|==)\s*1\s*\}\s*$")

NOT_RUN = "%s is not run: the approval goes straight on past it"
IGNORED = "%s is ignored: it changes nothing the engine runs"
PLAIN_END = "%s is imported as a plain event: its trigger or result is not run"
EXTENSION = "%s: its extension %s is not run"
OTHER_PROCESS = "%s is ignored: only one process of a file is imported"
NO_SUB = ("%s cannot be run: sub-processes and call activities are not supported; draw "
          "their tasks in the main process")
NO_BRANCHES = ("%s cannot be run: branches drawn in another modeler are not imported; mark "
               "parallel steps as one parallel group in the designer")
NO_EVENTS = "%s cannot be run: boundary and waiting events are not supported"
NO_LOOP = "%s cannot be run: a task repeated in a loop is not supported"
NO_EXPRESSION = ("%s uses the expression %s, which is not CRMForge's: name approvers and "
                 "write conditions without ${...}")
NO_COMPLETION = ("%s has a completion condition the engine cannot run: %s; use the step's "
                 "mode and pass rate")
STRAY_CONDITION = ("%s has a condition that does not lead to an approval task: only a "
                   "step's entry criteria are kept")
UNREACHED = "%s is not reached from the start event"
MANY_PROCESSES = "the file holds more than one process with approval tasks: %s; import one per file"


def _local(el: Any) -> str:
    return str(etree.QName(el).localname) if isinstance(el.tag, str) else ""


def _named(el: Any) -> str:
    """An element as messages name it: ``serviceTask "Send mail" (Activity_1)``."""
    label = " ".join((el.get("name") or "").split())[:60]  # one line, as messages are
    return f'{_local(el)} "{label}" ({el.get("id")})' if label \
        else f"{_local(el)} ({el.get('id')})"


class _Review:
    """Sorts a process's elements into kept, left out with a warning, and refused."""

    def __init__(self, process: Any, *, own: bool) -> None:
        self.process, self.own = process, own
        self.warnings: list[LeftOut] = []
        self.refusals: list[str] = []

    def warn(self, el: Any, template: str, *more: str) -> None:
        self.warnings.append(LeftOut(str(el.get("id") or ""), _local(el),
                                     el.get("name") or None, template % (_named(el), *more)))

    def refuse(self, el: Any, template: str, *more: str) -> None:
        self.refusals.append(template % (_named(el), *more))

    def processes(self, others: list[Any]) -> None:
        with_tasks = [p for p in others if p.find(f".//{_q('userTask')}") is not None]
        if with_tasks:
            names = ", ".join(_named(p) for p in [self.process, *with_tasks])
            self.refusals.append(MANY_PROCESSES % names)
        for p in others:
            if p not in with_tasks:
                self.warn(p, OTHER_PROCESS)

    def elements(self) -> None:
        by_id = {el.get("id"): el for el in self.process if el.get("id")}
        for el in self.process:
            kind = _local(el)
            if not kind or (self.own and _OWN.fullmatch(str(el.get("id") or ""))):
                continue
            if kind in _SUB:
                self.refuse(el, NO_SUB)
            elif kind in _BRANCHES:
                self.refuse(el, NO_BRANCHES)
            elif kind in _EVENTS:
                self.refuse(el, NO_EVENTS)
            elif kind in _NOT_RUN:
                self.warn(el, NOT_RUN)
            elif kind in ("startEvent", "endEvent"):
                if any(_local(c).endswith("EventDefinition") for c in el):
                    self.warn(el, PLAIN_END)
            elif kind == "userTask":
                self.task(el)
            elif kind == "sequenceFlow":
                self.flow(el, by_id)
            elif kind == "extensionElements":
                if len(el):
                    self.warn(self.process, EXTENSION, ", ".join(sorted(
                        {_local(c) for c in el if _local(c)})))
            elif kind not in _KEPT:
                self.warn(el, IGNORED)

    def task(self, el: Any) -> None:
        if el.get(_q("step", CRMFORGE)):
            return  # ours: the step exactly
        for attr in ("assignee", "candidateUsers", "candidateGroups", "collection"):
            value = _camunda(el, attr)
            if value and _EXPRESSION.search(value):
                self.refuse(el, NO_EXPRESSION, value[:80])
        for child in el:
            kind = _local(child)
            if kind in ("humanPerformer", "potentialOwner", "performer"):
                text = " ".join(child.itertext()).strip()
                self.refuse(el, NO_EXPRESSION, (text or kind)[:80])
            elif kind == "standardLoopCharacteristics":
                self.refuse(el, NO_LOOP)
            elif kind == "multiInstanceLoopCharacteristics":
                cond = child.find(_q("completionCondition"))
                text = (cond.text or "").strip() if cond is not None else ""
                if text and not _FIRST_VOTE.match(text):
                    self.refuse(el, NO_COMPLETION, text[:80])
                for part in child:
                    if _local(part) in ("loopCardinality", "loopDataInputRef"):
                        self.warn(el, EXTENSION, _local(part))
            elif kind == "extensionElements" and len(child):
                self.warn(el, EXTENSION, ", ".join(sorted(
                    {_local(c) for c in child if _local(c)})))

    def flow(self, el: Any, by_id: dict[str, Any]) -> None:
        cond = el.find(_q("conditionExpression"))
        text = (cond.text or "").strip() if cond is not None else ""
        if not text:
            return
        if _EXPRESSION.search(text):
            self.refuse(el, NO_EXPRESSION, text[:80])
            return
        source, target = by_id.get(el.get("sourceRef")), by_id.get(el.get("targetRef"))
        if source is None or target is None or _local(source) != "exclusiveGateway" \
                or _local(target) != "userTask":
            self.refuse(el, STRAY_CONDITION)

    def unreached(self, el: Any) -> None:
        self.refuse(el, UNREACHED)

    def raise_refusals(self) -> None:
        if self.refusals:
            raise ValidationFailed(f"the BPMN file cannot be imported: {self.refusals[0]}",
                                   {"bpmn": list(self.refusals)})


def _steps(process: Any, review: _Review) -> list[dict[str, Any]]:
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
    for el in process:
        if _local(el) == "userTask" and el.get("id") not in seen:
            review.unreached(el)
    if review.own:  # our export lists the steps in their order (branches side by side)
        order = [el for el in process if _local(el) == "userTask" and el in order]
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
        step["mode"] = "any" if cond is not None and _FIRST_VOTE.match(cond.text or "") \
            else "all"
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


__all__ = ["Imported", "LeftOut", "import_bpmn", "read_bpmn"]
