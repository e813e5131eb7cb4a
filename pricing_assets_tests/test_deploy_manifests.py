"""What can be checked of deploy/k8s and the executor settings without a cluster or a Docker engine.

The Helm values are checked against the value names the official chart documents (its schema,
transcribed below), the images against the two Dockerfiles, every PRICING_* variable against the
settings, the probes against the serving app's routes, the code location against workspace.yaml
and pyproject.toml, and the executor choices against what Dagster resolves.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from dagster import validate_run_config

from pricing_assets.definitions import LINEAGE_JOB, build_definitions
from pricing_assets.executors import executor_for
from pricing_assets.settings import Settings
from serving.app import create_app

from .conftest import REPO

K8S = REPO / "deploy" / "k8s"
VALUES = yaml.safe_load((K8S / "values.yaml").read_text())
SERVING = {doc["kind"]: doc for doc in yaml.safe_load_all((K8S / "serving.yaml").read_text())}
K8S_README = (K8S / "README.md").read_text()
CODE_DOCKERFILE = (REPO / "Dockerfile").read_text()
SERVING_DOCKERFILE = (REPO / "serving" / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Value names of the chart dagster/dagster, from its schema (helm/dagster/schema/schema/charts in
# dagster-io/dagster: DagsterHelmValues, UserDeployment, K8sRunLauncherConfig, RunK8sConfig, Daemon,
# QueuedRunCoordinatorConfig, PostgreSQL, Global). A misspelt key is silently ignored by Helm.
CHART_TOP_LEVEL = {
    "dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
    "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
    "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
    "telemetry", "serviceAccount", "global", "retention", "concurrency", "additionalInstanceConfig",
}  # fmt: skip
USER_DEPLOYMENT = {
    "name", "image", "port", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "env",
    "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
    "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe",
    "labels", "volumeMounts", "volumes", "schedulerName",
}  # fmt: skip
USER_DEPLOYMENTS = {"enabled", "enableSubchart", "imagePullSecrets", "deployments"}
K8S_RUN_LAUNCHER = {
    "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
    "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
    "schedulerName", "securityContext", "runK8sConfig",
}  # fmt: skip
RUN_K8S_CONFIG = {"containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata"}
DAEMON = {
    "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
    "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
    "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
    "runMonitoring", "runRetries", "sensors", "schedules", "schedulerName", "volumeMounts", "volumes",
}  # fmt: skip
QUEUED_RUN_COORDINATOR = {
    "maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds", "dequeueNumWorkers", "dequeueUseThreads",
}  # fmt: skip
POSTGRESQL = {
    "postgresqlScheme", "image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
    "postgresqlDatabase", "postgresqlParams", "service",
}  # fmt: skip
GLOBAL = {
    "postgresqlSecretName",
    "dagsterHome",
    "serviceAccountName",
    "celeryConfigSecretName",
    "dagsterInstanceConfigMap",
}


def _user_deployment() -> dict:
    deployments = VALUES["dagster-user-deployments"]["deployments"]
    assert len(deployments) == 1
    return deployments[0]


def _cmd(dockerfile: str) -> list[str]:
    return json.loads(re.search(r"^CMD (.+)$", dockerfile, re.M).group(1))


def _exposed(dockerfile: str) -> set[int]:
    return {int(port) for line in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M) for port in line.split()}


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _docker_builds() -> list[str]:
    """The `docker build` commands of deploy/k8s/README.md, one string each."""
    return [line.strip() for line in K8S_README.splitlines() if line.strip().startswith("docker build ")]


def _pricing_variables() -> set[str]:
    return {f"PRICING_{f.name.upper()}" for f in fields(Settings)}


def test_values_use_only_names_the_chart_documents():
    assert set(VALUES) <= CHART_TOP_LEVEL
    assert set(VALUES["dagster-user-deployments"]) <= USER_DEPLOYMENTS
    assert set(_user_deployment()) <= USER_DEPLOYMENT
    launcher = VALUES["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher" and set(launcher["config"]) == {"k8sRunLauncher"}
    assert set(launcher["config"]["k8sRunLauncher"]) <= K8S_RUN_LAUNCHER
    assert set(launcher["config"]["k8sRunLauncher"]["runK8sConfig"]) <= RUN_K8S_CONFIG
    daemon = VALUES["dagsterDaemon"]
    assert set(daemon) <= DAEMON and daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert set(daemon["runCoordinator"]["config"]["queuedRunCoordinator"]) <= QUEUED_RUN_COORDINATOR
    assert set(VALUES["postgresql"]) <= POSTGRESQL and set(VALUES["global"]) <= GLOBAL


def test_run_queue_and_retries_match_the_production_instance():
    """The cluster queues and retries runs as deploy/dagster.yaml does on a single host."""
    instance = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    queued = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    as_instance = [
        {"key": limit["key"], "limit": limit["limit"], **({"value": limit["value"]} if "value" in limit else {})}
        for limit in queued["tagConcurrencyLimits"]
    ]
    assert as_instance == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert VALUES["dagsterDaemon"]["runRetries"] == {
        "enabled": True,
        "maxRetries": instance["run_retries"]["max_retries"],
    }
    assert VALUES["postgresql"]["postgresqlScheme"] == instance["storage"]["postgres"]["postgres_db"]["scheme"]


def test_code_location_runs_the_code_image_as_its_dockerfile_does():
    deployment = _user_deployment()
    cmd = _cmd(CODE_DOCKERFILE)
    assert cmd[:3] == ["dagster", "code-server", "start"]
    # The chart runs `dagster code-server start -h 0.0.0.0 -p <port> <codeServerArgs>`.
    assert deployment["port"] == int(_option(cmd, "-p")) and deployment["port"] in _exposed(CODE_DOCKERFILE)
    assert deployment["codeServerArgs"] == ["-m", _option(cmd, "-m")]
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    module = _option(cmd, "-m")
    assert module == workspace["load_from"][0]["python_module"]["module_name"]
    assert module == PYPROJECT["tool"]["dagster"]["module_name"]
    assert deployment["image"]["repository"].endswith("/pricing-lineage")
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}  # run pods get its env and secrets


def test_readme_builds_each_image_from_its_dockerfile():
    builds = _docker_builds()
    code = [b for b in builds if "pricing-lineage:" in b]
    serving = [b for b in builds if "pricing-serving:" in b]
    assert len(code) == 1 and len(serving) == 1
    assert " -f " not in code[0] and code[0].endswith(" .")  # the root Dockerfile, from the root
    assert "-f serving/Dockerfile" in serving[0] and serving[0].endswith(" .")
    assert "--build-arg EXTRAS=k8s" in code[0] and re.search(r"^ARG EXTRAS=", CODE_DOCKERFILE, re.M)
    assert any(r.startswith("dagster-k8s==") for r in PYPROJECT["project"]["optional-dependencies"]["k8s"])
    for image in ("pricing-lineage", "pricing-serving"):
        assert f'docker push "$REGISTRY/{image}:$TAG"' in K8S_README
    assert "helm upgrade --install dagster dagster/dagster --version 1.13.27" in K8S_README
    assert '"dagster==1.13.27"' in (REPO / "pyproject.toml").read_text()  # the chart version follows dagster's


def test_code_image_installs_the_extra_the_build_arg_names():
    """The Dockerfile's shell expression installs `.` by default and `.[k8s]` with EXTRAS=k8s."""
    target = re.search(r'pip install "([^"]+)"', CODE_DOCKERFILE).group(1)
    installed = {}
    for extras in ("", "k8s"):
        shell = subprocess.run(
            ["sh", "-c", f'printf %s "{target}"'], env={"EXTRAS": extras}, capture_output=True, text=True, check=True
        )
        installed[extras] = shell.stdout
    assert installed == {"": ".", "k8s": ".[k8s]"}


def test_serving_manifest_matches_its_image_and_routes(tmp_path: Path):
    deployment, service = SERVING["Deployment"], SERVING["Service"]
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    assert container["image"].rsplit(":", 1)[0].endswith("/pricing-serving")
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    cmd = _cmd(SERVING_DOCKERFILE)
    assert ports["http"] == int(_option(cmd, "--port")) and ports["http"] in _exposed(SERVING_DOCKERFILE)
    assert service["spec"]["ports"][0]["targetPort"] in ports
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001 and "--uid 10001" in SERVING_DOCKERFILE
    routes = {route.path for route in create_app(Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path)})).routes}
    readiness, liveness = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (readiness["path"], liveness["path"]) == ("/readyz", "/healthz")
    assert {readiness["path"], liveness["path"]} <= routes
    assert readiness["port"] in ports and liveness["port"] in ports


def test_every_pricing_variable_in_the_manifests_and_docs_is_a_setting(tmp_path: Path):
    code_env = _user_deployment()["env"]
    (container,) = SERVING["Deployment"]["spec"]["template"]["spec"]["containers"]
    serving_env = {item["name"]: item["value"] for item in container["env"]}
    docs = K8S_README + (REPO / "deploy" / "CELERY.md").read_text() + (K8S / "values.yaml").read_text()
    mentioned = set(re.findall(r"\bPRICING_[A-Z0-9_]*[A-Z0-9]\b", docs)) | set(code_env) | set(serving_env)
    assert mentioned <= _pricing_variables() | {"PRICING_PROJECT_DIR", "REDIS_URL"}  # REDIS_URL: read by Settings
    assert "REDIS_URL" in serving_env
    # Both environments are valid settings as a pod would read them.
    code = Settings.from_env({**code_env, "PRICING_PROJECT_DIR": str(tmp_path)})
    assert code.env == "production" and code.uses_s3 and executor_for(code).name == "in_process"
    serving = Settings.from_env({**serving_env, "PRICING_PROJECT_DIR": str(tmp_path)})
    assert serving.s3_bucket == code.s3_bucket and serving.s3_prefix == code.s3_prefix
    assert serving.redis_url == serving_env["REDIS_URL"]


def test_secrets_the_manifests_read_are_the_ones_the_readme_creates():
    secret_names = set(re.findall(r"kubectl -n pricing create secret generic (\S+)", K8S_README))
    referenced = {s["name"] for s in _user_deployment()["envSecrets"]}
    referenced |= {s["name"] for s in VALUES["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]}
    (container,) = SERVING["Deployment"]["spec"]["template"]["spec"]["containers"]
    referenced |= {source["secretRef"]["name"] for source in container["envFrom"]}
    referenced.add(VALUES["global"]["postgresqlSecretName"])
    assert referenced == secret_names
    assert VALUES["generatePostgresqlPasswordSecret"] is False and not VALUES["postgresql"]["postgresqlPassword"]
    assert "--from-literal=postgresql-password=" in K8S_README  # the key the chart reads


@pytest.mark.parametrize("name", ["in_process", "multiprocess", "celery", "k8s"])
def test_each_executor_setting_resolves(tmp_path: Path, name: str):
    settings = Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path), "PRICING_EXECUTOR": name})
    if name == "k8s" and importlib.util.find_spec("dagster_k8s") is None:
        with pytest.raises(ImportError, match=r"k8s extra"):
            executor_for(settings)
        return
    expected = {"in_process": "in_process", "multiprocess": "multi_or_in_process_executor"}.get(name, name)
    assert executor_for(settings).name == expected
    assert build_definitions(settings).resolve_job_def(LINEAGE_JOB).executor_def.name == expected


def test_celery_defaults_come_from_settings_and_a_run_can_pick_its_queue(tmp_path: Path):
    settings = Settings.from_env(
        {
            "PRICING_PROJECT_DIR": str(tmp_path),
            "PRICING_EXECUTOR": "celery",
            "PRICING_CELERY_BROKER": "pyamqp://pricing@rabbit.internal:5672//",
            "PRICING_CELERY_QUEUE": "pricing",
        }
    )
    job = build_definitions(settings).resolve_job_def(LINEAGE_JOB)
    default = validate_run_config(job, {})["execution"]["celery"]
    assert default["broker"] == "pyamqp://pricing@rabbit.internal:5672//" and default["backend"] == "rpc://"
    assert default["config_source"] == {"task_default_queue": "pricing"}
    chosen = validate_run_config(job, {"execution": {"config": {"queue": "big-memory"}}})["execution"]["celery"]
    assert chosen["config_source"] == {"task_default_queue": "big-memory"} and chosen["broker"] == default["broker"]


def test_an_unknown_executor_names_the_variable():
    with pytest.raises(ValueError, match="PRICING_EXECUTOR"):
        Settings.from_env({"PRICING_EXECUTOR": "spark"})


def test_multiprocess_steps_fork_from_a_preloaded_server_unless_a_run_picks_a_start_method(tmp_path: Path):
    """Spawn re-imports the code location in every step process (6.4x slower, BENCHMARKS.md); forkserver by default."""
    job = build_definitions(Settings.from_env({"PRICING_PROJECT_DIR": str(tmp_path)})).resolve_job_def(LINEAGE_JOB)

    def resolved(config: dict) -> dict:
        run_config = {"execution": {"config": config}} if config else {}
        return validate_run_config(job, run_config)["execution"]["multi_or_in_process_executor"]

    preloaded = {
        "forkserver": {"preload_modules": ["pricing_assets.definitions", "statsmodels.api", "matplotlib.pyplot"]}
    }
    assert resolved({})["multiprocess"]["start_method"] == preloaded
    assert resolved({"multiprocess": {"max_concurrent": 2}})["multiprocess"] | {"retries": None} == {
        "max_concurrent": 2,
        "start_method": preloaded,
        "retries": None,
    }
    assert resolved({"multiprocess": {"start_method": {"spawn": {}}}})["multiprocess"]["start_method"] == {"spawn": {}}
    assert "multiprocess" not in resolved({"in_process": {}})
