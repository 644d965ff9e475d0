"""(c) Bare SpiffWorkflow: the same five completions with the library alone.

Per completion: deserialize the workflow from JSON (the library's own serializer, which
embeds the spec), set the form data on the ready user task, `task.run()`,
`do_engine_steps()`, serialize back to JSON. Default script engine, no database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from bench.scenario import KIND, STEPS, bpmn_paths
from bench.stats import Summary


@dataclass
class BaselineResult:
    completions: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds summed per phase
    json_bytes: int = 0

    @property
    def summary(self) -> Summary:
        return Summary.of_seconds(self.completions)

    @property
    def cpu_summary(self) -> Summary:
        return Summary.of_seconds(self.cpu)

    @property
    def cpu_share(self) -> float:
        """Process CPU time / wall time of the completions (< 1: waited on I/O or the CPU)."""
        return sum(self.cpu) / sum(self.completions) if self.completions else float("nan")


def run(n: int, warmup: int) -> BaselineResult:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_files([str(path) for path in bpmn_paths()])
    spec = parser.get_spec(KIND)
    subprocess_specs = parser.get_subprocess_specs(KIND)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    result = BaselineResult(phases={"deserialize": 0.0, "run+engine steps": 0.0, "serialize": 0.0})

    for index in range(warmup + n):
        measured = index >= warmup
        workflow = BpmnWorkflow(spec, subprocess_specs)
        data = {
            "item_id": index,
            "item_number": f"B-{index}",
            "kind": KIND,
            "rehandle": False,
            "co_departments": [],
        }
        workflow.data.update(data)
        workflow.task_tree.data.update(data)
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow)
        for _username, bpmn_id, form_data in STEPS:
            c0 = time.process_time()
            t0 = time.perf_counter()
            workflow = serializer.deserialize_json(state)
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            t1 = time.perf_counter()
            task = ready[0]
            if task.task_spec.bpmn_id != bpmn_id:
                raise AssertionError(f"expected {bpmn_id}, engine offers {task.task_spec.bpmn_id}")
            task.data.update(form_data)
            task.run()
            workflow.do_engine_steps()
            t2 = time.perf_counter()
            state = serializer.serialize_json(workflow)
            t3 = time.perf_counter()
            c3 = time.process_time()
            if measured:
                result.completions.append(t3 - t0)
                result.cpu.append(c3 - c0)
                result.phases["deserialize"] += t1 - t0
                result.phases["run+engine steps"] += t2 - t1
                result.phases["serialize"] += t3 - t2
        if not workflow.completed:
            raise AssertionError("bare workflow did not complete after the five steps")
        result.json_bytes = max(result.json_bytes, len(state.encode()))
    return result
