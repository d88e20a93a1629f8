"""Compile a process document to BPMN 2.0 XML, with diagram interchange for bpmn-js.

Each step becomes four elements: an entry gateway (the step's criteria; a step whose
criteria do not hold is skipped), a script task that resolves the approvers, a
multi-instance user task (parallel for single/any/all, sequential for sequential) whose
completion condition ends the step early, and a decision gateway that routes to the next
step, back to an earlier step, or to the approved / rejected / returned end events.
Every condition is written in the CRMForge expression language over the step's tallies
(``approved_<step>``, ``rejected_<step>``, ...) and the record's fields; the restricted
script engine in ``engine.py`` evaluates them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from ..metadata.processes import parallel_groups

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
#: Our extension attributes: the exact step and process settings, for a lossless round trip.
CRMFORGE = "https://crmforge.dev/schema/bpmn"
NSMAP = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "xsi": XSI, "crmforge": CRMFORGE}

END_APPROVED, END_REJECTED, END_RETURNED = "end_approved", "end_rejected", "end_returned"
#: The ``return_to`` value that sends a record back to its submitter.
SUBMITTER = "submitter"

_SIZES = {"event": (36, 36), "gateway": (50, 50), "task": (100, 80)}


def process_id(name: str) -> str:
    return "Process_" + name


def task_id(step: str) -> str:
    return "task_" + step


def step_of_task(element_id: str) -> str:
    return element_id[len("task_"):] if element_id.startswith("task_") else element_id


def completion_condition(mode: str, step: str, has_rate: bool) -> str:
    """When a step stops waiting for further votes."""
    s = step
    if mode in ("single", "any"):  # one vote decides, unless approvers were added (加签)
        return f"rejected_{s} + returned_{s} >= 1 or approved_{s} >= needed_{s}"
    if mode == "all" and has_rate:
        return (f"returned_{s} >= 1 or approved_{s} >= needed_{s} "
                f"or rejected_{s} > total_{s} - needed_{s}")
    return f"rejected_{s} + returned_{s} >= 1"


def _q(tag: str, ns: str = BPMN) -> str:
    return f"{{{ns}}}{tag}"


class _Builder:
    def __init__(self, name: str, label: str) -> None:
        self.root = etree.Element(_q("definitions"), nsmap=NSMAP)
        self.root.set("id", "Definitions_" + name)
        self.root.set("targetNamespace", "https://crmforge.dev/bpmn")
        self.root.set("exporter", "CRMForge")
        self.process = etree.SubElement(self.root, _q("process"), id=process_id(name),
                                        isExecutable="true", name=label)
        self.shapes: dict[str, tuple[str, int, int]] = {}   # id -> (kind, x, y) of the centre
        self.flows: list[tuple[str, str, str]] = []          # (id, source, target)
        self.defaults: set[str] = set()  # the gateways' default flows (a skipped step)

    def node(self, tag: str, kind: str, node_id: str, x: int, y: int, name: str | None = None
             ) -> Any:
        el = etree.SubElement(self.process, _q(tag), id=node_id)
        if name:
            el.set("name", name)
        self.shapes[node_id] = (kind, x, y)
        return el

    def flow(self, source: str, target: str, condition: str | None = None,
             default: bool = False) -> str:
        flow_id = f"flow_{len(self.flows) + 1}"
        el = etree.SubElement(self.process, _q("sequenceFlow"), id=flow_id, sourceRef=source,
                              targetRef=target)
        if condition is not None:
            cond = etree.SubElement(el, _q("conditionExpression"))
            cond.set(_q("type", XSI), "bpmn:tFormalExpression")
            cond.text = condition
        if default:
            self.process.find(f"*[@id='{source}']").set("default", flow_id)
            self.defaults.add(flow_id)
        self.flows.append((flow_id, source, target))
        return flow_id

    def finish(self) -> bytes:
        """Wire incoming/outgoing references and write the diagram."""
        by_id = {el.get("id"): el for el in self.process}
        for flow_id, source, target in self.flows:
            etree.SubElement(by_id[source], _q("outgoing")).text = flow_id
            etree.SubElement(by_id[target], _q("incoming")).text = flow_id
        for el in by_id.values():  # BPMN's schema wants incoming/outgoing first
            refs = [c for c in el if c.tag in (_q("incoming"), _q("outgoing"))]
            for c in refs:
                el.remove(c)
            for i, c in enumerate(refs):
                el.insert(i, c)
        self._diagram()
        out: bytes = etree.tostring(self.root, xml_declaration=True, encoding="UTF-8",
                                    pretty_print=True)
        return out

    def _diagram(self) -> None:
        diagram = etree.SubElement(self.root, _q("BPMNDiagram", BPMNDI), id="Diagram_1")
        plane = etree.SubElement(diagram, _q("BPMNPlane", BPMNDI), id="Plane_1",
                                 bpmnElement=self.process.get("id"))
        for node_id, (kind, cx, cy) in self.shapes.items():
            w, h = _SIZES[kind]
            shape = etree.SubElement(plane, _q("BPMNShape", BPMNDI), id=node_id + "_di",
                                     bpmnElement=node_id)
            if kind == "gateway":
                shape.set("isMarkerVisible", "true")
            etree.SubElement(shape, _q("Bounds", DC), x=str(cx - w // 2), y=str(cy - h // 2),
                             width=str(w), height=str(h))
        for flow_id, source, target in self.flows:
            edge = etree.SubElement(plane, _q("BPMNEdge", BPMNDI), id=flow_id + "_di",
                                    bpmnElement=flow_id)
            for x, y in self._route(source, target, flow_id in self.defaults):
                etree.SubElement(edge, _q("waypoint", DI), x=str(x), y=str(y))

    def _route(self, source: str, target: str, skip: bool = False) -> list[tuple[int, int]]:
        sk, sx, sy = self.shapes[source]
        tk, tx, ty = self.shapes[target]
        sw, sh = _SIZES[sk]
        tw, th = _SIZES[tk]
        if skip and sy == ty and tx > sx:  # over the skipped step, not through it
            lane = sy - 90
            return [(sx, sy - sh // 2), (sx, lane), (tx, lane), (tx, ty - th // 2)]
        if sy == ty and tx > sx:
            return [(sx + sw // 2, sy), (tx - tw // 2, ty)]
        if tx < sx:  # a return to an earlier step: under the main line, then up
            lane = sy + 90
            return [(sx, sy + sh // 2), (sx, lane), (tx, lane), (tx, ty + th // 2)]
        return [(sx, sy + sh // 2), (sx, ty), (tx - tw // 2, ty)]


def groups_of(steps: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, list[str]]]:
    """The step names as they run (``metadata.processes.parallel_groups``): each alone, or
    a parallel group, in order."""
    return [(group, [str(s["name"]) for s in members])
            for group, members in parallel_groups(list(steps))]


def return_targets(steps: Sequence[Mapping[str, Any]], step: str) -> list[str]:
    """The earlier steps an approver of ``step`` may return a record to: none from inside
    a parallel group (the other branches would wait at the join for ever; the record goes
    back to its submitter instead), and never into a group."""
    earlier: list[str] = []
    for group, names in groups_of(steps):
        if step in names:
            return [] if group is not None else earlier
        if group is None:
            earlier.extend(names)
    return earlier


def compile_process(doc: Mapping[str, Any]) -> bytes:
    """The BPMN document of a (validated) process document. A parallel group is a
    parallel split into its steps' chains and a join after them; rejecting or returning
    anywhere ends the whole process (terminate end events), the other branches' tasks
    are cancelled."""
    name = str(doc["name"])
    b = _Builder(name, _label(doc))
    rest = {k: v for k, v in doc.items() if k not in ("name", "object", "steps", "version")}
    b.process.set(_q("process", CRMFORGE), json.dumps(rest, ensure_ascii=False, sort_keys=True))
    y, x = 200, 100
    b.node("startEvent", "event", "start", x, y, "Submitted")
    steps: Sequence[Mapping[str, Any]] = doc["steps"]
    by_name = {str(st["name"]): st for st in steps}
    units = groups_of(steps)
    entries = [("split_" + g) if g is not None else "gw_" + names[0] for g, names in units]
    parallel = any(g is not None for g, _ in units)
    column, lowest = 0, y
    b.flow("start", entries[0])
    for u, (group, names) in enumerate(units):
        after = entries[u + 1] if u + 1 < len(units) else END_APPROVED
        nxt = after
        if group is not None:
            b.node("parallelGateway", "gateway", entries[u], 100 + 160 * (4 * column + 1) - 80,
                   y, None)
            nxt = "join_" + group
        for k, s in enumerate(names):
            step = by_name[s]
            row_y = y + 160 * k
            lowest = max(lowest, row_y)
            if group is not None:
                b.flow(entries[u], "gw_" + s)
            _compile_step(b, steps, step, 100 + 160 * (4 * column + 1), row_y, nxt)
        column += 1
        if group is not None:
            b.node("parallelGateway", "gateway", nxt, 100 + 160 * (4 * column) + 40, y, None)
            b.flow(nxt, after)
    x_end = 100 + 160 * 4 * column + 160
    b.node("endEvent", "event", END_APPROVED, x_end, y, "Approved")
    rejected = b.node("endEvent", "event", END_REJECTED, x_end, lowest + 200, "Rejected")
    returned = b.node("endEvent", "event", END_RETURNED, x_end, lowest + 300, "Returned")
    if parallel:  # one branch's refusal ends every branch
        for end in (rejected, returned):
            etree.SubElement(end, _q("terminateEventDefinition"), id=end.get("id") + "_end")
    # Flows into the end events were created before the nodes; order does not matter to
    # BPMN, but the diagram needs both ends placed, which they now are.
    return b.finish()


def _compile_step(b: _Builder, steps: Sequence[Mapping[str, Any]], step: Mapping[str, Any],
                  base: int, y: int, nxt: str) -> None:
    """One step's chain at (``base``, ``y``): entry gateway (criteria), the task finding
    approvers, the multi-instance approval task, the gateway routing its votes."""
    s = str(step["name"])
    mode = str(step.get("mode", "single"))
    entry = "gw_" + s
    b.node("exclusiveGateway", "gateway", entry, base, y, None)
    prep = b.node("scriptTask", "task", "prep_" + s, base + 160, y, "Find approvers")
    etree.SubElement(prep, _q("script")).text = f"prepare_step('{s}')"
    task = b.node("userTask", "task", task_id(s), base + 320, y, _label(step))
    task.set(_q("step", CRMFORGE), json.dumps(dict(step), ensure_ascii=False, sort_keys=True))
    loop = etree.SubElement(task, _q("multiInstanceLoopCharacteristics"))
    if mode == "sequential":
        loop.set("isSequential", "true")
    etree.SubElement(loop, _q("loopDataInputRef")).text = "approvers_" + s
    etree.SubElement(loop, _q("loopDataOutputRef")).text = "votes_" + s
    etree.SubElement(loop, _q("inputDataItem"), id="approver", name="approver")
    etree.SubElement(loop, _q("outputDataItem"), id="vote", name="vote")
    cond = etree.SubElement(loop, _q("completionCondition"))
    cond.set(_q("type", XSI), "bpmn:tFormalExpression")
    cond.text = completion_condition(mode, s, "pass_rate" in step)
    decide = "decide_" + s
    b.node("exclusiveGateway", "gateway", decide, base + 480, y, None)
    criteria = step.get("criteria")
    if criteria and nxt.startswith("join_"):
        # A parallel join waits for a token on every flow into it: a branch reaches it
        # by one flow, whether its step ran or was skipped.
        merge = "merge_" + s
        b.node("exclusiveGateway", "gateway", merge, base + 560, y, None)
        b.flow(merge, nxt)
        nxt = merge
    if criteria:
        b.flow(entry, "prep_" + s, str(criteria))
        b.flow(entry, nxt, None, default=True)
    else:
        b.flow(entry, "prep_" + s, None, default=True)
    b.flow("prep_" + s, task_id(s))
    b.flow(task_id(s), decide)
    b.flow(decide, nxt, f"returned_{s} == 0 and approved_{s} >= needed_{s}")
    b.flow(decide, END_RETURNED, f"returned_{s} >= 1 and return_to_{s} == '{SUBMITTER}'")
    for e in return_targets(steps, s):
        b.flow(decide, "gw_" + e, f"returned_{s} >= 1 and return_to_{s} == '{e}'")
    b.flow(decide, END_REJECTED, None, default=True)


def drawn_process(doc: Mapping[str, Any]) -> bytes:
    """The process as a person draws it, for export and the diagram editor: start, each
    step's approval task (behind a gateway when the step has entry criteria, whose default
    flow skips it), a parallel group as a split into its steps and a join after them,
    approved. The engine's own elements (the task that finds approvers, the gateways that
    route votes back or to rejection) stay in ``compile_process``; they mean nothing to a
    modeler, and their data references are not BPMN another tool reads without warnings.
    Our ``crmforge:step`` and ``crmforge:process`` attributes carry the exact settings, so
    importing the file gives back the same document."""
    name = str(doc["name"])
    b = _Builder(name, _label(doc))
    rest = {k: v for k, v in doc.items() if k not in ("name", "object", "steps", "version")}
    b.process.set(_q("process", CRMFORGE), json.dumps(rest, ensure_ascii=False, sort_keys=True))
    y = 200
    b.node("startEvent", "event", "start", 100, y, "Submitted")
    by_name = {str(st["name"]): st for st in doc["steps"]}
    x = 100
    # Flows waiting for the next element: (source, whether it is its gateway's default).
    pending: list[tuple[str, bool]] = [("start", False)]

    def goes_to(target: str) -> None:
        for source, default in pending:
            b.flow(source, target, default=default)
        pending.clear()

    for group, names in groups_of(doc["steps"]):
        if group is None:
            x = _drawn_step(b, by_name[names[0]], x, y, pending, goes_to)
            continue
        x += 130
        split, join = "split_" + group, "join_" + group
        b.node("parallelGateway", "gateway", split, x, y, None)
        goes_to(split)
        widest = x
        for k, s in enumerate(names):
            branch: list[tuple[str, bool]] = [(split, False)]

            def into(target: str, branch: list[tuple[str, bool]] = branch) -> None:
                for source, default in branch:
                    b.flow(source, target, default=default)
                branch.clear()

            row_y = y + 160 * k
            end_x = _drawn_step(b, by_name[s], x, row_y, branch, into)
            if len(branch) > 1:  # the task and its skip meet before the join
                end_x += 130
                b.node("exclusiveGateway", "gateway", "merge_" + s, end_x, row_y, None)
                into("merge_" + s)
                branch.append(("merge_" + s, False))
            widest = max(widest, end_x)
            pending.extend(branch)
        x = widest + 130
        b.node("parallelGateway", "gateway", join, x, y, None)
        goes_to(join)
        pending.append((join, False))
    x += 160
    b.node("endEvent", "event", END_APPROVED, x, y, "Approved")
    goes_to(END_APPROVED)
    return b.finish()


def _drawn_step(b: _Builder, step: Mapping[str, Any], x: int, y: int,
                pending: list[tuple[str, bool]], goes_to: Any) -> int:
    """One step of ``drawn_process`` after ``x``: its entry gateway (criteria) and task;
    leaves in ``pending`` the flows that go on from it. Returns the x it reached."""
    s = str(step["name"])
    if step.get("criteria"):
        x += 130
        entry = "gw_" + s
        b.node("exclusiveGateway", "gateway", entry, x, y, None)
        goes_to(entry)
        x += 160
        _drawn_task(b, step, x, y)
        b.flow(entry, task_id(s), str(step["criteria"]))
        pending.extend([(task_id(s), False), (entry, True)])
        return x
    x += 160
    _drawn_task(b, step, x, y)
    goes_to(task_id(s))
    pending.append((task_id(s), False))
    return x


def _drawn_task(b: _Builder, step: Mapping[str, Any], x: int, y: int) -> None:
    s = str(step["name"])
    task = b.node("userTask", "task", task_id(s), x, y, _label(step))
    task.set(_q("step", CRMFORGE), json.dumps(dict(step), ensure_ascii=False, sort_keys=True))
    mode = str(step.get("mode", "single"))
    if mode != "single":
        loop = etree.SubElement(task, _q("multiInstanceLoopCharacteristics"))
        if mode == "sequential":
            loop.set("isSequential", "true")


def _label(doc: Mapping[str, Any]) -> str:
    labels = doc.get("label") or {}
    return str(labels.get("en") or labels.get("zh") or doc["name"])


__all__ = ["END_APPROVED", "END_REJECTED", "END_RETURNED", "SUBMITTER", "compile_process",
           "completion_condition", "drawn_process", "groups_of", "process_id", "return_targets",
           "step_of_task", "task_id"]
