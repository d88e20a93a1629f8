"""SpiffWorkflow, fenced in: parsing, a restricted script engine, and the serializer.

SpiffWorkflow's default script engine is ``eval``/``exec`` with full builtins. Ours never
calls either: a condition is compiled by the CRMForge expression sandbox (AST whitelist +
RestrictedPython, Decimal numbers) against a context of the record's fields and the
steps' tallies, and a script task may only call a host function the runtime registered
(``prepare_step('name')``), parsed from a one-call AST with constant arguments.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.helpers import DefaultRegistry
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from ..core.errors import BadRequest, ValidationFailed
from ..metadata.model import ObjectDef, Snapshot
from ..rules import ExpressionContext, ExpressionError, FieldInfo, T, compile_expression
from ..rules.compiler import Resolver

TALLIES = ("approved", "rejected", "returned", "total", "needed")


class Host(Protocol):
    """What the runtime gives the engine for one action: the record and its step helpers."""

    context: ExpressionContext

    def record(self) -> Mapping[str, Any]: ...

    def resolver(self) -> Resolver | None: ...

    def prepare_step(self, task: Any, step: str) -> None: ...


def workflow_context(obj: ObjectDef, snapshot: Snapshot, steps: Sequence[str]) -> ExpressionContext:
    """The record's fields (and relations) plus each step's tallies, as one typed context."""
    base = ExpressionContext.for_object(obj, snapshot)
    own = dict(base.fields)
    for s in steps:
        for t in TALLIES:
            own[f"{t}_{s}"] = FieldInfo(f"{t}_{s}", T.NUMBER)
        own[f"return_to_{s}"] = FieldInfo(f"return_to_{s}", T.TEXT)
    objects = {**base.objects, obj.name: MappingProxyType(own)}
    signature = base.signature + "|wf:" + ",".join(steps)
    return ExpressionContext(obj.name, MappingProxyType(own), MappingProxyType(objects),
                             signature)


def tallies(data: Mapping[str, Any], steps: Sequence[str]) -> dict[str, Any]:
    """Vote counts per step from the ``votes_<step>`` lists the multi-instance tasks fill."""
    out: dict[str, Any] = {}
    for s in steps:
        votes = [v for v in data.get("votes_" + s) or [] if isinstance(v, Mapping)]
        counts = {d: sum(1 for v in votes if v.get("decision") == d)
                  for d in ("approve", "reject", "return")}
        # An approver skipped as a repeat (``repeated_approver``) counts as an approval.
        skipped = int(data.get("skipped_" + s) or 0)
        out["approved_" + s] = Decimal(counts["approve"] + skipped)
        out["rejected_" + s] = Decimal(counts["reject"])
        out["returned_" + s] = Decimal(counts["return"])
        out["total_" + s] = Decimal(len(data.get("approvers_" + s) or []) + skipped)
        out["needed_" + s] = Decimal(int(data.get("needed_" + s) or 0))
        back = [v.get("to") for v in votes if v.get("decision") == "return"]
        out["return_to_" + s] = str(back[-1] or "") if back else ""
    return out


def needed(mode: str, pass_rate: Any, count: int) -> int:
    """Approvals a step needs from ``count`` approvers."""
    if count == 0:
        return 0
    if mode in ("single", "any"):
        return 1
    if mode == "all" and pass_rate is not None:
        return max(1, math.ceil(Decimal(str(pass_rate)) * count / 100))
    return count


class RestrictedEngine(PythonScriptEngine):  # type: ignore[misc]
    """Conditions in the expression sandbox; scripts only as registered host calls."""

    def __init__(self, host: Host, steps: Sequence[str]) -> None:
        super().__init__()
        self.host = host
        self.steps = tuple(steps)
        self.functions: dict[str, Callable[[Any, str], None]] = {
            "prepare_step": host.prepare_step}

    def validate(self, expression: str) -> None:
        compile_expression(expression.strip(), self.host.context, expected=T.BOOLEAN)

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        data = dict(task.data)
        parent = task.parent
        if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
            data.update(parent.data)  # the votes merged so far live on the loop task
        values = {**self.host.record(), **tallies(data, self.steps)}
        try:
            compiled = compile_expression(str(expression).strip(), self.host.context,
                                          expected=T.BOOLEAN)
            return bool(compiled.evaluate(values, self.host.resolver()))
        except ExpressionError as exc:
            raise ValidationFailed(f"workflow condition '{str(expression)[:80]}': {exc}") from None

    def execute(self, task: Any, script: str, external_context: Any = None) -> bool:
        name, args = parse_call(script)
        fn = self.functions.get(name)
        if fn is None:
            raise ValidationFailed(f"scripts may only call {', '.join(self.functions)}")
        fn(task, *args)
        return True


def parse_call(script: str) -> tuple[str, list[str]]:
    """``name('arg', ...)`` and nothing else: the only script form a process may hold."""
    try:
        tree = ast.parse(str(script).strip(), mode="eval")
    except SyntaxError:
        raise ValidationFailed("a script task holds one call such as prepare_step('a')") from None
    call = tree.body
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and not call.keywords
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in call.args)):
        raise ValidationFailed("a script task holds one call such as prepare_step('a')")
    return call.func.id, [str(a.value) for a in call.args]  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=64)
def parse(xml: bytes, process: str | None = None) -> Any:
    """The process spec of a BPMN document (the first executable process by default).

    Cached by document: parsing costs milliseconds, and a spec is shared by the workflows
    started from it as SpiffWorkflow intends (their state lives in the workflow, and each
    restored instance rebuilds its own spec from the serialized JSON)."""
    parser = BpmnParser()
    try:
        parser.add_bpmn_str(xml)
        ids = parser.get_process_ids()
        if not ids:
            raise BadRequest("the BPMN document has no executable process")
        return parser.get_spec(process or ids[0])
    except ValidationException as exc:
        raise ValidationFailed(f"the BPMN document is not valid: {exc}"[:500]) from None
    except (ValueError, SyntaxError) as exc:  # lxml's XMLSyntaxError is a SyntaxError
        raise ValidationFailed(f"the BPMN document is not valid: {exc}"[:500]) from None


def _registry() -> DefaultRegistry:
    reg = DefaultRegistry()
    reg.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]),
                 "Decimal")
    reg.register(dt.date, lambda v: {"value": v.isoformat()},
                 lambda v: dt.date.fromisoformat(v["value"]), "date")
    return reg


_SERIALIZER = BpmnWorkflowSerializer(registry=BpmnWorkflowSerializer.configure(
    registry=_registry()))


def element_states(workflow: BpmnWorkflow) -> dict[str, list[str]]:
    """BPMN element ids already passed and still waiting, for the diagram (bpmn-js)."""
    completed: dict[str, None] = {}
    active: dict[str, None] = {}
    for t in workflow.get_tasks():
        bid = getattr(t.task_spec, "bpmn_id", None)
        if not bid:
            continue
        if t.has_state(TaskState.COMPLETED):
            completed[bid] = None
        elif t.has_state(TaskState.READY | TaskState.STARTED | TaskState.WAITING):
            active[bid] = None
    return {"completed": list(completed), "active": list(active)}


def new_workflow(spec: Any, engine: RestrictedEngine) -> BpmnWorkflow:
    return BpmnWorkflow(spec, script_engine=engine)


def dump(workflow: BpmnWorkflow) -> str:
    text: str = _SERIALIZER.serialize_json(workflow)
    return text


def load(text: str, engine: RestrictedEngine) -> BpmnWorkflow:
    workflow: BpmnWorkflow = _SERIALIZER.deserialize_json(text)
    workflow.script_engine = engine
    return workflow


__all__ = ["Host", "RestrictedEngine", "dump", "element_states", "load", "needed", "new_workflow", "parse",
           "parse_call", "tallies", "workflow_context"]
