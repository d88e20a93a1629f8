"""BPMN drawn in the designer's editor (bpmn-js with the crmforge attributes) imports as a
process: a ``crmforge:step`` task takes the criteria of the gateway's flow into it, and
``crmforge:process`` is exact (the process element's name is not read as a label), so a
drawn process survives export and import unchanged."""

from __future__ import annotations

import json
from xml.sax.saxutils import quoteattr

from flask.testing import FlaskClient

from crmforge.workflow.importer import import_bpmn

from .test_workflow_definitions import setup

DRAWN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:crmforge="https://crmforge.dev/schema/bpmn" id="Definitions_1"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="Process_1" name="Process_1" isExecutable="false"
      crmforge:process=PROCESS_ATTR>
    <bpmn:startEvent id="StartEvent_1"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="Activity_0abc" name="Review"
        crmforge:step=REVIEW_ATTR>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="Gateway_1"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f5</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="Activity_0def"
        crmforge:step=BOARD_ATTR>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="End_1">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="StartEvent_1" targetRef="Activity_0abc" />
    <bpmn:sequenceFlow id="f2" sourceRef="Activity_0abc" targetRef="Gateway_1" />
    <bpmn:sequenceFlow id="f3" sourceRef="Gateway_1" targetRef="Activity_0def">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
          xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">amount &gt;= 1000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="Activity_0def" targetRef="End_1" />
    <bpmn:sequenceFlow id="f5" sourceRef="Gateway_1" targetRef="End_1" />
  </bpmn:process>
</bpmn:definitions>
"""
BOARD = {"name": "board", "mode": "all", "pass_rate": 60, "approvers": {"users": ["admin"]}}


def _attr(value: object) -> str:
    return quoteattr(json.dumps(value))


DRAWN = DRAWN.replace("PROCESS_ATTR", _attr({"entry_criteria": "amount > 0"})).replace(
    "REVIEW_ATTR", _attr({"name": "review", "label": {"en": "Review"}, "mode": "single",
                          "approvers": {"users": ["admin"]}})).replace(
    "BOARD_ATTR", _attr(BOARD))


def test_a_drawn_step_takes_its_gateway_condition() -> None:
    doc = import_bpmn(DRAWN.encode(), "drawn", "deal")
    assert "label" not in doc  # crmforge:process is exact: "Process_1" is no label
    assert doc["entry_criteria"] == "amount > 0"
    assert doc["steps"] == [
        {"name": "review", "label": {"en": "Review"}, "mode": "single",
         "approvers": {"users": ["admin"]}},
        {"name": "board", "mode": "all", "pass_rate": 60, "criteria": "amount >= 1000",
         "approvers": {"users": ["admin"]}}]
    exact = DRAWN.replace(_attr(BOARD), _attr({**BOARD, "criteria": "amount > 5"}))
    assert import_bpmn(exact.encode(), "drawn", "deal")["steps"][1]["criteria"] == "amount > 5"
    plain = DRAWN.replace(" crmforge:process=" + _attr({"entry_criteria": "amount > 0"}), "")
    assert import_bpmn(plain.encode(), "drawn", "deal")["label"] == {"en": "Process_1"}


def test_a_drawn_process_round_trips(client: FlaskClient, admin: dict[str, str]) -> None:
    setup(client, admin)
    r = client.post("/api/v1/meta/processes/import",
                    json={"name": "drawn", "object": "deal", "bpmn": DRAWN}, headers=admin)
    assert r.status_code == 201, r.json
    drawn = r.json
    assert "label" not in drawn and drawn["steps"][1]["criteria"] == "amount >= 1000"
    xml = client.get("/api/v1/meta/processes/drawn/bpmn", headers=admin).data
    r = client.post("/api/v1/meta/processes/import",
                    json={"name": "again", "object": "deal", "bpmn": xml.decode()},
                    headers=admin)
    assert r.status_code == 201, r.json
    assert {k: v for k, v in r.json.items() if k != "name"} == \
        {k: v for k, v in drawn.items() if k != "name"}
