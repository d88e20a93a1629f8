"""Exported BPMN (``drawn_process``) is BPMN 2.0 another modeler reads without warnings:
bpmn-moddle, the model under bpmn-js and Camunda Modeler, reads every pack's processes and
a few made here, and reports nothing; ids are unique; the engine's own elements (the task
that finds approvers, the vote-routing gateways) are not in it; and importing the file
gives back the same steps."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from lxml import etree

from crmforge.workflow.bpmn import BPMN, compile_process, drawn_process
from crmforge.workflow.importer import import_bpmn

ROOT = Path(__file__).resolve().parents[3]
CHECK = ROOT / "scripts" / "check-bpmn.mjs"

MADE: list[dict[str, Any]] = [
    {"name": "deal_approval", "object": "deal", "label": {"en": "Deal", "zh": "交易审批"},
     "steps": [
         {"name": "manager", "approvers": {"manager": True}},
         {"name": "finance", "mode": "all", "criteria": "amount > 1000", "pass_rate": 60,
          "approvers": {"role": "finance"}},
         {"name": "legal", "mode": "any", "criteria": "region == 'EU'",
          "approvers": {"users": ["lee", "kim"]}},
         {"name": "board", "mode": "sequential", "approvers": {"users": ["ceo", "cfo"]}}]},
    {"name": "parallel_reviews", "object": "deal", "steps": [
        {"name": "manager", "approvers": {"manager": True}},
        {"name": "legal", "parallel": "reviews", "criteria": "amount > 1000",
         "approvers": {"role": "legal"}},
        {"name": "finance", "parallel": "reviews", "mode": "all",
         "approvers": {"users": ["fay", "fox"]}},
        {"name": "ceo", "approvers": {"users": ["ceo"]}}]},
    {"name": "only_big", "object": "deal",
     "steps": [{"name": "big", "criteria": "amount > 5", "approvers": {"manager": True}}]},
]


def _documents() -> list[dict[str, Any]]:
    docs = list(MADE)
    for path in sorted(ROOT.glob("packs/*/processes/*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        docs.append({**doc, "name": doc.get("name") or path.stem})
    return docs


DOCS = _documents()


def test_the_corpus_has_the_packs_processes() -> None:
    assert len(DOCS) >= len(MADE) + 5


@pytest.mark.parametrize("doc", DOCS, ids=[str(d["name"]) for d in DOCS])
def test_an_export_shows_the_steps_only_and_imports_back(doc: dict[str, Any]) -> None:
    xml = drawn_process(doc)
    root = etree.fromstring(xml)
    ids = [el.get("id") for el in root.iter() if el.get("id") is not None]
    assert len(ids) == len(set(ids))
    tags = {etree.QName(el).localname for el in root.iter(f"{{{BPMN}}}*")}
    assert "scriptTask" not in tags and "loopDataInputRef" not in tags
    tasks = root.findall(f".//{{{BPMN}}}userTask")
    assert [t.get("id") for t in tasks] == [f"task_{s['name']}" for s in doc["steps"]]
    back = import_bpmn(xml, str(doc["name"]), str(doc.get("object") or ""))
    assert back["steps"] == [dict(s) for s in doc["steps"]]


def test_bpmn_moddle_reads_every_export_without_warnings(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is a prerequisite (README)"
    assert (ROOT / "node_modules" / "bpmn-moddle").is_dir(), "run make setup (npm ci)"
    files = []
    for doc in DOCS:
        path = tmp_path / f"{doc['name']}.bpmn"
        path.write_bytes(drawn_process(doc))
        files.append(str(path))
    engine = tmp_path / "engine.bpmn"  # the checker does find problems: the engine's file
    engine.write_bytes(compile_process(MADE[0]))
    found = json.loads(subprocess.run([node, str(CHECK), *files, str(engine)], cwd=ROOT,
                                      capture_output=True, text=True, check=True,
                                      timeout=120).stdout)
    assert {f: w for f, w in found.items() if w and f != str(engine)} == {}
    assert any("duplicate ID" in w for w in found[str(engine)])
