"""BPMN files written by other modelers (data/corpus, sources and licences in its README)
import with every element the engine does without named in a warning, or are refused
with every element it cannot run named; nothing is dropped without a word."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crmforge.core.errors import ValidationFailed
from crmforge.workflow.importer import read_bpmn

CORPUS = Path(__file__).parent / "data" / "corpus"

#: file -> the steps it imports as and the ids of the elements named in its warnings
IMPORTED: dict[str, tuple[list[str], set[str]]] = {
    "spiff_no_form.bpmn": (["task_not_a_darn_thing"],
                           {"Task_Not_A_Darn_Thing", "TextAnnotation_09fq7kh",
                            "Association_1cfasjp"}),
    "crmforge_modeler_extras.bpmn": (["review_sales", "review_legal"],
                                     {"Process_contract", "LaneSet_1", "Review_sales",
                                      "Archive", "Done", "Note", "Assoc"}),
}
#: file -> the ids of the elements its refusal names
REFUSED: dict[str, set[str]] = {
    "spiff_Approvals.bpmn": {"Approvals.First_Approval_Wins", "Approvals.Parallel_SP",
                             "Approvals.Gateway4", "Approvals.Gateway5"},
    "spiff_ParallelOrder.bpmn": {"Gateway_1n38bj5", "Gateway_1ocoth5"},
    "spiff_boundary_timer_on_task.bpmn": {"Event_0y4hbl0"},
    "spiff_lanes.bpmn": {"Activity_0i0rxuw"},
    "spiff_subWorkflowComplex.bpmn": {"Activity_SWF"},
    "spiff_ExclusiveGatewayIfElseAndDecision.bpmn": {"SequenceFlow_15emspo",
                                                     "SequenceFlow_030p6mf"},
    "spiff_service_task.bpmn": set(),  # no approval task at all
    "moddle_simple.bpmn": {"SubProcess_1"},
    "moddle_potentialOwner.bpmn": {"assignApprover"},
    "moddle_expression-plain.bpmn": {"SequenceFlow_06jpd22"},
    "moddle_multiInstanceLoopCharacteristics.bpmn": {"CheckDataTask", "InfoTask"},
}


def test_every_file_of_the_corpus_has_an_expectation() -> None:
    files = {p.name for p in CORPUS.glob("*.bpmn")}
    assert files == set(IMPORTED) | set(REFUSED)
    assert len(files) >= 10


@pytest.mark.parametrize("name", sorted(IMPORTED))
def test_a_file_imports_naming_what_it_leaves_out(name: str) -> None:
    steps, left_out = IMPORTED[name]
    got = read_bpmn((CORPUS / name).read_bytes(), "imported", "deal")
    assert [s["name"] for s in got.doc["steps"]] == steps
    assert {w.element for w in got.warnings} == left_out
    for w in got.warnings:
        assert f"({w.element})" in w.message and w.type in w.message


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_file_is_refused_naming_what_cannot_run(name: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        read_bpmn((CORPUS / name).read_bytes(), "imported", "deal")
    messages = refused.value.fields["bpmn"]
    named = {m for msg in messages for m in re.findall(r"\(([^()]+)\)\s", msg + " ")}
    assert named == REFUSED[name], messages
    if not REFUSED[name]:
        assert messages == ["no user task"]


def test_a_camunda_expression_is_refused_wherever_it_stands() -> None:
    base = (CORPUS / "crmforge_modeler_extras.bpmn").read_text(encoding="utf-8")
    for before, after, element in [
        ('camunda:assignee="admin"', 'camunda:assignee="${initiator}"', "Review_sales"),
        ("amount &gt; 100000", "${amount &gt; 100000}", "F4"),
        ("${nrOfCompletedInstances &gt;= 1}", "${nrOfCompletedInstances/nrOfInstances &gt;= 0.6}",
         "Review_legal"),
    ]:
        assert before in base
        with pytest.raises(ValidationFailed) as refused:
            read_bpmn(base.replace(before, after).encode(), "imported", "deal")
        assert [f"({element})" in m for m in refused.value.fields["bpmn"]] == [True]


def test_a_task_the_start_never_reaches_is_refused_not_dropped() -> None:
    base = (CORPUS / "crmforge_modeler_extras.bpmn").read_text(encoding="utf-8")
    cut = base.replace('<bpmn:sequenceFlow id="F4" sourceRef="Big" targetRef="Review_legal">',
                       '<bpmn:sequenceFlow id="F4" sourceRef="Review_legal" targetRef="Done">')
    with pytest.raises(ValidationFailed) as refused:
        read_bpmn(cut.encode(), "imported", "deal")
    assert any("(Review_legal) is not reached" in m for m in refused.value.fields["bpmn"])
