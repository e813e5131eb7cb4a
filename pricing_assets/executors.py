"""Where a run's steps execute, chosen once by ``PRICING_EXECUTOR`` for every job of the code location.

- ``multiprocess`` (default): Dagster's own default, a process per step on the machine that runs
  the run (run config can still pick ``in_process``), except that step processes are forked from a
  server that imported the code location once (``forkserver``) instead of each starting a fresh
  interpreter (``spawn``): 4.6x the throughput on one stockcode of the weekly lineage, 6.4x on the
  per-line one (BENCHMARKS.md, throughput).
- ``in_process``: every step in the run's process; cheapest for one stockcode on a small machine.
- ``celery``: each step is a task on a Celery broker, executed by ``dagster-celery`` workers on
  any number of machines (deploy/CELERY.md). The broker, result backend and queue default to
  ``PRICING_CELERY_*`` and stay overridable in a run's config, so a launchpad run can target
  another worker pool.
- ``k8s``: each step is a Kubernetes Job (dagster-k8s's ``k8s_job_executor``, the ``k8s`` extra);
  it needs the ``K8sRunLauncher`` on the instance (deploy/k8s/README.md).

``execute_in_process`` (the CLI, most tests) always runs in process, whatever is chosen here.
"""

from __future__ import annotations

from typing import Any

from dagster import ExecutorDefinition, Field, in_process_executor, multi_or_in_process_executor
from dagster_celery import celery_executor

from .settings import Settings


def celery_executor_for(settings: Settings) -> ExecutorDefinition:
    """dagster-celery's executor with this deployment's broker, backend and queue as defaults.

    The queue goes in as Celery's ``task_default_queue``, the queue dagster-celery submits every
    step to, so workers started with ``-q <queue>`` take exactly this code location's steps.
    """
    schema = {
        "broker": Field(str, default_value=settings.celery_broker, description="Celery broker URL."),
        "backend": Field(str, default_value=settings.celery_backend, description="Celery result backend URL."),
        "queue": Field(str, default_value=settings.celery_queue, description="Queue the workers listen on."),
    }

    def to_celery_config(config: dict[str, Any]) -> dict[str, Any]:
        return {
            "broker": config["broker"],
            "backend": config["backend"],
            "config_source": {"task_default_queue": config["queue"]},
        }

    return celery_executor.configured(to_celery_config, config_schema=schema)


def k8s_step_executor() -> ExecutorDefinition:
    """dagster-k8s's pod-per-step executor, imported only when chosen (it is an optional extra)."""
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise ImportError(
            "PRICING_EXECUTOR=k8s needs dagster-k8s: install the k8s extra (pip install '.[k8s]', "
            "or build the image with --build-arg EXTRAS=k8s)"
        ) from exc
    return k8s_job_executor


# The code location, and what its steps import lazily (statsmodels for the price response,
# matplotlib for the SHAP and recommendation plots): imported once in the server, not per step.
FORKSERVER = {"forkserver": {"preload_modules": ["pricing_assets.definitions", "statsmodels.api", "matplotlib.pyplot"]}}


def _forkserver_unless_chosen(config: dict[str, Any]) -> dict[str, Any]:
    """The multiprocess executor's own config, with forkserver when the run picks no start method."""
    if "multiprocess" in config and not config["multiprocess"].get("start_method"):
        return {"multiprocess": {**config["multiprocess"], "start_method": FORKSERVER}}
    return config


multiprocess_forkserver_executor = multi_or_in_process_executor.configured(
    _forkserver_unless_chosen, config_schema=multi_or_in_process_executor.config_schema.as_field()
)


def executor_for(settings: Settings) -> ExecutorDefinition:
    """The executor ``PRICING_EXECUTOR`` names (validated by Settings)."""
    if settings.executor == "celery":
        return celery_executor_for(settings)
    if settings.executor == "k8s":
        return k8s_step_executor()
    if settings.executor == "in_process":
        return in_process_executor
    return multiprocess_forkserver_executor
