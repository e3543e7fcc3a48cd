"""
The Tekton and Argo examples use only variables their engine substitutes where they are used.

The allowed variables are the tables of each project's variables page:
Tekton's "Variable Substitutions Supported by Tasks and Pipelines"
(tektoncd/pipeline ``docs/variables.md``: ``context.pipelineRun.name`` is
available in a Pipeline only; a Task has ``context.taskRun.*``,
``context.task.*`` and its own params) and Argo's "Workflow Variables"
(argoproj/argo-workflows ``docs/variables.md``: ``workflow.*`` globally,
``pod.name`` and ``retries`` in container templates, ``inputs.parameters.*``
declared by the template). Then the step's ``objlog run`` command line is
substituted as the engine would and parsed by objlog's own parser, to check
which run and task names the logs land under.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML, which moto[server] of the test extra installs

from objlog import cli

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

_TEKTON_VAR = re.compile(r"\$\(([^)]*)\)")
_ARGO_VAR = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")

# Tekton docs/variables.md, "Variables available in a Task" (the context rows).
TEKTON_TASK_CONTEXT = {
    "context.taskRun.name",
    "context.taskRun.namespace",
    "context.taskRun.uid",
    "context.task.name",
    "context.task.retry-count",
}
# Tekton docs/variables.md, "Variables available in a Pipeline" (the context rows).
TEKTON_PIPELINE_CONTEXT = {
    "context.pipelineRun.name",
    "context.pipelineRun.namespace",
    "context.pipelineRun.uid",
    "context.pipeline.name",
    "context.pipelineTask.retries",
}
# Argo docs/variables.md, "Global" and "Container/Script Templates" (the rows used for names).
ARGO_CONTAINER = {"workflow.name", "workflow.namespace", "workflow.uid", "pod.name", "retries"}


def _strings(node: Any) -> Iterator[str]:
    """Every string value below `node`."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _tekton() -> tuple[dict[str, Any], dict[str, Any]]:
    docs = list(yaml.safe_load_all((EXAMPLES / "tekton-task.yaml").read_text()))
    (task,) = [d for d in docs if d["kind"] == "Task"]
    (pipeline,) = [d for d in docs if d["kind"] == "Pipeline"]
    return task, pipeline


def _argo_template() -> dict[str, Any]:
    workflow = yaml.safe_load((EXAMPLES / "argo-template.yaml").read_text())
    assert "Workflow" == workflow["kind"]
    (template,) = workflow["spec"]["templates"]
    assert workflow["spec"]["entrypoint"] == template["name"]
    return dict(template)


def _substitute(text: str, pattern: re.Pattern[str], values: dict[str, str]) -> str:
    return pattern.sub(lambda m: values[m.group(1)], text)


def _names(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Parse an ``objlog run`` argv as the CLI does; return ``(pipelinerun, task)``."""
    assert ["objlog", "run"] == argv[:2]
    head, command = cli._split_run_argv(argv[1:])
    assert command, "the step's command was taken for objlog options"
    args = cli.build_parser().parse_args(head)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pipelinerun, task, generated = cli._run_names(args)
    assert not generated
    return pipelinerun, task


def test_tekton_task_uses_only_task_variables() -> None:
    """The Task's steps use its own params and Task context variables; nothing else holds $()."""
    task, _ = _tekton()
    params = {p["name"] for p in task["spec"]["params"]}
    allowed = TEKTON_TASK_CONTEXT | {f"params.{p}" for p in params}
    used = {v for s in _strings(task["spec"]["steps"]) for v in _TEKTON_VAR.findall(s)}
    assert {"context.taskRun.name", "params.pipelinerun", "params.task"} <= used
    assert set() == used - allowed
    # No variable where Tekton does not substitute (a param's description or default).
    assert [] == [s for s in _strings(task["spec"]["params"]) if "$(" in s]


def test_tekton_pipeline_passes_the_run_name_as_a_param() -> None:
    """The Pipeline sets the Task's params from Pipeline variables, only in params[].value."""
    task, pipeline = _tekton()
    declared = {p["name"] for p in task["spec"]["params"]}
    required = {p["name"] for p in task["spec"]["params"] if "default" not in p}
    (pipeline_task,) = pipeline["spec"]["tasks"]
    assert task["metadata"]["name"] == pipeline_task["taskRef"]["name"]
    passed = {p["name"]: p["value"] for p in pipeline_task["params"]}
    assert set(passed) <= declared
    assert required <= set(passed)
    assert "$(context.pipelineRun.name)" == passed["pipelinerun"]
    used = {v for value in passed.values() for v in _TEKTON_VAR.findall(value)}
    assert set() == used - TEKTON_PIPELINE_CONTEXT
    outside = dict(pipeline_task, params=[])
    assert [] == [s for s in _strings(outside) if "$(" in s]


def _tekton_step_names(
    params: dict[str, str], taskrun: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Substitute the Task's step as Tekton would; return the names objlog run files under."""
    task, _ = _tekton()
    (step,) = task["spec"]["steps"]
    defaults = {f"params.{p['name']}": p.get("default", "") for p in task["spec"]["params"]}
    values = {
        **defaults,
        **{f"params.{k}": v for k, v in params.items()},
        "context.taskRun.name": taskrun,
    }
    argv = [_substitute(a, _TEKTON_VAR, values) for a in [*step["command"], *step["args"]]]
    env = {
        e["name"]: _substitute(e["value"], _TEKTON_VAR, values) for e in step["env"] if "value" in e
    }
    return _names(argv, env, monkeypatch)


def test_tekton_names_in_a_pipeline_and_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """In the Pipeline: the PipelineRun's name and task ``train``; alone: the TaskRun's name."""
    _, pipeline = _tekton()
    (pipeline_task,) = pipeline["spec"]["tasks"]
    pipeline_values = {"context.pipelineRun.name": "digits-run-x7k2p"}
    params = {
        p["name"]: _substitute(p["value"], _TEKTON_VAR, pipeline_values)
        for p in pipeline_task["params"]
    }
    got = _tekton_step_names(params, "digits-run-x7k2p-train", monkeypatch)
    assert ("digits-run-x7k2p", "train") == got
    alone = _tekton_step_names({}, "train-digits-run-q9z", monkeypatch)
    assert ("train-digits-run-q9z", "train-digits") == alone


def test_argo_template_uses_only_argo_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The container uses workflow/pod variables and its declared inputs; names come out right."""
    template = _argo_template()
    inputs = {p["name"]: p["default"] for p in template["inputs"]["parameters"]}
    allowed = ARGO_CONTAINER | {f"inputs.parameters.{p}" for p in inputs}
    used = {v for s in _strings(template["container"]) for v in _ARGO_VAR.findall(s)}
    assert {"workflow.name", "inputs.parameters.task"} <= used
    assert set() == used - allowed
    values = {"workflow.name": "train-digits-abcde", "pod.name": "train-digits-abcde-123"}
    values |= {f"inputs.parameters.{k}": v for k, v in inputs.items()}
    container = template["container"]
    argv = [_substitute(a, _ARGO_VAR, values) for a in [*container["command"], *container["args"]]]
    assert ("train-digits-abcde", "train") == _names(argv, {}, monkeypatch)
