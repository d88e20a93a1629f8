"""The BPMN compiler, the restricted script engine, the serializer and the importer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.util.task import TaskState

from crmforge.core.errors import ValidationFailed
from crmforge.metadata.model import Snapshot
from crmforge.rules import ExpressionContext
from crmforge.workflow import bpmn, engine
from crmforge.workflow.importer import import_bpmn

DATA = Path(__file__).parent / "data"
SNAP = Snapshot.from_data(1, {"objects": [{"doc": {
    "id": "o1", "name": "deal", "fields": [
        {"id": "f1", "name": "amount", "type": "decimal"},
        {"id": "f2", "name": "close", "type": "date"}]}, "removed_fields": []}]})
OBJ = SNAP.object("deal")
assert OBJ is not None
DOC: dict[str, Any] = {"name": "p", "object": "deal", "steps": [
    {"name": "a", "mode": "all", "pass_rate": 60, "approvers": {"users": ["x"]}},
    {"name": "b", "mode": "sequential", "criteria": "amount > 100", "approvers": {"users": ["y"]}},
    {"name": "c", "mode": "any", "approvers": {"users": ["z"]}}]}
PEOPLE = {"a": [1, 2, 3], "b": [4, 5], "c": [6, 7]}


class Host:
    def __init__(self, amount: str) -> None:
        self.context = engine.workflow_context(OBJ, SNAP, ["a", "b", "c"])
        self.amount = Decimal(amount)

    def record(self) -> dict[str, Any]:
        return {"amount": self.amount}

    def resolver(self) -> None:
        return None

    def prepare_step(self, task: Any, step: str) -> None:
        sd = next(s for s in DOC["steps"] if s["name"] == step)
        task.data["approvers_" + step] = PEOPLE[step]
        task.data["votes_" + step] = []
        task.data["needed_" + step] = engine.needed(sd["mode"], sd.get("pass_rate"),
                                                    len(PEOPLE[step]))


def run(amount: str, votes: dict[int, str], restore: bool = True) -> tuple[str, list[int]]:
    """Drive a workflow with votes; returns the end reached and who was asked, in order."""
    host = Host(amount)
    eng = engine.RestrictedEngine(host, ["a", "b", "c"])
    wf = engine.new_workflow(engine.parse(bpmn.compile_process(DOC)), eng)
    wf.data["submitted"] = {"amount": Decimal("1.10"), "close": dt.date(2026, 1, 2)}
    wf.do_engine_steps()
    asked = []
    while not wf.is_completed():
        task = wf.get_tasks(state=TaskState.READY, manual=True)[0]
        user = task.data["approver"]
        asked.append(user)
        task.data["vote"] = {"user": user, "decision": votes.get(user, "approve")}
        task.run()
        wf.do_engine_steps()
        if restore:
            wf = engine.load(engine.dump(wf), eng)
    assert wf.data["submitted"] == {"amount": Decimal("1.10"), "close": dt.date(2026, 1, 2)}
    ends = [t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED)
            if t.task_spec.bpmn_id in (bpmn.END_APPROVED, bpmn.END_REJECTED, bpmn.END_RETURNED)]
    return ends[0], asked


def test_modes_and_criteria() -> None:
    assert run("500", {}) == ("end_approved", [1, 2, 4, 5, 6])     # 2 of 3 reach 60 %
    assert run("50", {}) == ("end_approved", [1, 2, 6])            # b's criteria fail: skipped
    assert run("500", {2: "reject"})[0] == "end_approved"          # 2 of 3 >= 60 %
    assert run("500", {1: "reject", 2: "reject"}) == ("end_rejected", [1, 2])
    assert run("500", {4: "reject"}) == ("end_rejected", [1, 2, 4])  # sequential stops
    assert run("500", {6: "reject"}, restore=False)[0] == "end_rejected"  # any: one vote


def test_restricted_engine_never_evals() -> None:
    eng = engine.RestrictedEngine(Host("1"), ["a"])

    class Task:
        def __init__(self) -> None:
            self.data: dict[str, Any] = {}
            self.parent = None

    for bad in ("__import__('os').system('true')", "().__class__", "open('/etc/passwd')",
                "[x for x in range(10**9)]"):
        with pytest.raises(ValidationFailed):
            eng.evaluate(Task(), bad)
    assert eng.evaluate(Task(), "amount > 0") is True
    for bad_script in ("import os", "prepare_step(x)", "os.system('x')", "a = 1",
                       "exec('1')", "prepare_step('a'); prepare_step('b')"):
        with pytest.raises(ValidationFailed):
            eng.execute(Task(), bad_script)


def test_compiled_bpmn_has_a_diagram_for_every_element() -> None:
    root = etree.fromstring(bpmn.compile_process(DOC))
    ns = {"bpmn": bpmn.BPMN, "bpmndi": bpmn.BPMNDI}
    process = root.find("bpmn:process", ns)
    nodes = {el.get("id") for el in process if el.tag != f"{{{bpmn.BPMN}}}sequenceFlow"}
    flows = {el.get("id") for el in process if el.tag == f"{{{bpmn.BPMN}}}sequenceFlow"}
    shapes = {el.get("bpmnElement") for el in root.iterfind(".//bpmndi:BPMNShape", ns)}
    edges = {el.get("bpmnElement") for el in root.iterfind(".//bpmndi:BPMNEdge", ns)}
    assert nodes == shapes and flows == edges
    loops = root.findall(".//bpmn:multiInstanceLoopCharacteristics", ns)
    assert [lp.get("isSequential") for lp in loops] == [None, "true", None]
    assert "needed_a" in loops[0].find("bpmn:completionCondition", ns).text


def test_camunda_modeler_file_imports() -> None:
    doc = import_bpmn((DATA / "camunda_purchase.bpmn").read_bytes(), "purchase", "deal")
    assert doc["label"] == {"en": "Purchase approval"}
    assert doc["description"] == {"en": "Purchases above the limit need the board."}
    first, board = doc["steps"]
    assert first == {"name": "activity_teamlead", "label": {"en": "Team lead review"},
                     "mode": "single", "approvers": {"users": ["alice"]}}
    assert board["mode"] == "all" and board["criteria"] == "amount > 10000"
    assert board["approvers"] == {"users": ["bob", "carol"], "role": "approver"}
    # the imported document compiles to BPMN that SpiffWorkflow parses
    engine.parse(bpmn.compile_process(doc))


def test_bad_bpmn_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        import_bpmn(b"<not-xml", "x", "deal")
    with pytest.raises(ValidationFailed):
        import_bpmn(b'<?xml version="1.0"?><definitions/>', "x", "deal")
    with pytest.raises(ValidationFailed):
        engine.parse(b"<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/"
                     b"MODEL'><bpmn:process id='p' isExecutable='true'><bpmn:userTask id='t'>"
                     b"<bpmn:multiInstanceLoopCharacteristics/></bpmn:userTask></bpmn:process>"
                     b"</bpmn:definitions>")


def test_workflow_context_types() -> None:
    ctx = engine.workflow_context(OBJ, SNAP, ["a"])
    assert isinstance(ctx, ExpressionContext)
    assert {"amount", "approved_a", "needed_a", "return_to_a"} <= set(ctx.fields)
    assert engine.needed("all", 60, 3) == 2 and engine.needed("any", None, 5) == 1
    assert engine.needed("sequential", None, 4) == 4 and engine.needed("all", None, 0) == 0
