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


def compile_process(doc: Mapping[str, Any]) -> bytes:
    """The BPMN document of a (validated) process document."""
    name = str(doc["name"])
    b = _Builder(name, _label(doc))
    rest = {k: v for k, v in doc.items() if k not in ("name", "object", "steps", "version")}
    b.process.set(_q("process", CRMFORGE), json.dumps(rest, ensure_ascii=False, sort_keys=True))
    y, x = 200, 100
    b.node("startEvent", "event", "start", x, y, "Submitted")
    steps: Sequence[Mapping[str, Any]] = doc["steps"]
    entries = ["gw_" + s["name"] for s in steps]
    x_end = 100 + 160 * 4 * len(steps) + 160
    for i, step in enumerate(steps):
        s = str(step["name"])
        mode = str(step.get("mode", "single"))
        nxt = entries[i + 1] if i + 1 < len(steps) else END_APPROVED
        base = 100 + 160 * (4 * i + 1)
        b.node("exclusiveGateway", "gateway", entries[i], base, y, None)
        if i == 0:
            b.flow("start", entries[0])
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
        skip_target = nxt
        if criteria:
            b.flow(entries[i], "prep_" + s, str(criteria))
            b.flow(entries[i], skip_target, None, default=True)
        else:
            b.flow(entries[i], "prep_" + s, None, default=True)
        b.flow("prep_" + s, task_id(s))
        b.flow(task_id(s), decide)
        b.flow(decide, nxt, f"returned_{s} == 0 and approved_{s} >= needed_{s}")
        b.flow(decide, END_RETURNED, f"returned_{s} >= 1 and return_to_{s} == '{SUBMITTER}'")
        for earlier in steps[:i]:
            e = str(earlier["name"])
            b.flow(decide, "gw_" + e, f"returned_{s} >= 1 and return_to_{s} == '{e}'")
        b.flow(decide, END_REJECTED, None, default=True)
    b.node("endEvent", "event", END_APPROVED, x_end, y, "Approved")
    b.node("endEvent", "event", END_REJECTED, x_end, y + 200, "Rejected")
    b.node("endEvent", "event", END_RETURNED, x_end, y + 300, "Returned")
    # Flows into the end events were created before the nodes; order does not matter to
    # BPMN, but the diagram needs both ends placed, which they now are.
    return b.finish()


def drawn_process(doc: Mapping[str, Any]) -> bytes:
    """The process as a person draws it, for export and the diagram editor: start, each
    step's approval task (behind a gateway when the step has entry criteria, whose default
    flow skips it), approved. The engine's own elements (the task that finds approvers,
    the gateways that route votes back or to rejection) stay in ``compile_process``; they
    mean nothing to a modeler, and their data references are not BPMN another tool reads
    without warnings. Our ``crmforge:step`` and ``crmforge:process`` attributes carry the
    exact settings, so importing the file gives back the same document."""
    name = str(doc["name"])
    b = _Builder(name, _label(doc))
    rest = {k: v for k, v in doc.items() if k not in ("name", "object", "steps", "version")}
    b.process.set(_q("process", CRMFORGE), json.dumps(rest, ensure_ascii=False, sort_keys=True))
    y = 200
    b.node("startEvent", "event", "start", 100, y, "Submitted")
    x, last, skips = 100, "start", list[str]()
    for step in doc["steps"]:
        s = str(step["name"])
        entry = last
        if step.get("criteria"):
            x += 130
            entry = "gw_" + s
            b.node("exclusiveGateway", "gateway", entry, x, y, None)
            b.flow(last, entry)
            for skipped in skips:  # a skipped earlier step goes on to this one
                b.flow(skipped, entry, default=True)
            skips = []
        x += 160
        task = b.node("userTask", "task", task_id(s), x, y, _label(step))
        task.set(_q("step", CRMFORGE), json.dumps(dict(step), ensure_ascii=False, sort_keys=True))
        mode = str(step.get("mode", "single"))
        if mode != "single":
            loop = etree.SubElement(task, _q("multiInstanceLoopCharacteristics"))
            if mode == "sequential":
                loop.set("isSequential", "true")
        if entry != last:
            b.flow(entry, task_id(s), str(step["criteria"]))
            skips.append(entry)
        else:
            b.flow(last, task_id(s))
            for skipped in skips:
                b.flow(skipped, task_id(s), default=True)
            skips = []
        last = task_id(s)
    x += 160
    b.node("endEvent", "event", END_APPROVED, x, y, "Approved")
    b.flow(last, END_APPROVED)
    for skipped in skips:
        b.flow(skipped, END_APPROVED, default=True)
    return b.finish()


def _label(doc: Mapping[str, Any]) -> str:
    labels = doc.get("label") or {}
    return str(labels.get("en") or labels.get("zh") or doc["name"])


__all__ = ["END_APPROVED", "END_REJECTED", "END_RETURNED", "SUBMITTER", "compile_process",
           "completion_condition", "drawn_process", "process_id", "step_of_task", "task_id"]
