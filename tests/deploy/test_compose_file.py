"""docker-compose.yaml without a Docker engine: valid against the Compose specification's JSON schema,
every service of the production topology present and healthy-checked, every setting in .env.example,
no secret committed, no secret that may be empty, no service published without authentication, and
every service the DAGs need reachable by name.

The schema, tests/fixtures/compose-spec.json, is the Compose specification schema as shipped by
Debian's docker-compose 1.29.2-3 package (/usr/lib/python3/dist-packages/compose/config/compose_spec.json;
upstream https://github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
SCHEMA = ROOT / "tests" / "fixtures" / "compose-spec.json"
SERVICES = {"postgres", "redis", "mlflow", "airflow-init", "airflow-apiserver", "airflow-scheduler",
            "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}
LONG_RUNNING = SERVICES - {"airflow-init"}
SECRETS = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY",
           "AIRFLOW_ADMIN_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_SECRET_KEY", "FLOWER_PASSWORD",
           "VALUEFLOW_ID_KEY"}
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_validates_against_the_compose_specification_schema(compose):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file(compose):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    broken = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"], "ports": 6379,
                                                                       "restart_policy": "always"}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_accepts_it(tmp_path):
    """`docker-compose config` (Debian's, no engine needed) with a .env made from .env.example."""
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yaml")
    (tmp_path / ".env").write_text("\n".join(f"{k}={v or 'x'}" for k, v in env_example().items()) + "\n")
    result = subprocess.run(["docker-compose", "config", "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = subprocess.run(["docker-compose", "config", "--services"], capture_output=True, text=True, cwd=tmp_path)
    assert set(listed.stdout.split()) >= SERVICES


def test_names_every_service_of_the_production_topology(compose):
    assert set(compose["services"]) >= SERVICES
    for name in LONG_RUNNING:
        assert "healthcheck" in compose["services"][name], f"{name} has no health check"


def test_workers_can_be_scaled(compose):
    worker = compose["services"]["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # `--scale airflow-worker=N` needs both absent
    assert worker["command"] == "celery worker"
    assert worker["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_airflow_services_share_one_image_built_from_requirements(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and re.search(r"^FROM apache/airflow:3\.", dockerfile, re.M)
    for name, service in compose["services"].items():
        if name.startswith("airflow-") or name == "mlflow":
            assert service.get("build") == "." and service["image"] == "${VALUEFLOW_IMAGE:-valueflow:latest}", name


def test_every_setting_is_in_env_example_and_no_secret_is_committed(compose):
    documented = env_example()
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    assert used <= set(documented), f"not in .env.example: {sorted(used - set(documented))}"
    for secret in SECRETS:
        assert documented.get(secret, "missing") == "", f"{secret} must be empty in .env.example"
    assert ".env\n" in (ROOT / ".gitignore").read_text() or ".env" in (ROOT / ".gitignore").read_text().split()
    environments = [compose["x-airflow-common"]["environment"]]
    environments += [service.get("environment", {}) for service in compose["services"].values()]
    for environment in environments:
        for key, value in environment.items():
            if re.search(r"PASSWORD|SECRET|FERNET", key):
                assert re.fullmatch(r"(\$\{[A-Z_]+(:\?[^}]*)?\})+", str(value)), f"{key} is not taken from .env"


def secrets_that_may_be_empty(text: str) -> list[str]:
    """Secrets used as ${VAR} or ${VAR:-...} anywhere: compose would start Redis, Postgres or MLflow
    with an empty password instead of refusing."""
    found = []
    for secret in sorted(SECRETS):
        uses = re.findall(r"(?<!\$)\$\{" + secret + r"(:?[-?][^}]*)?\}", text)
        if not uses or not all(use.startswith(":?") for use in uses):
            found.append(secret)
    return found


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(arg) for arg in command]


def _required_secret(value: str) -> bool:
    return bool(re.search(r"\$\{[A-Z_]+:\?[^}]*\}", value))


def published_without_authentication(compose: dict) -> list[str]:
    """Services that publish a port (`ports:`) where nothing asks for a login: MLflow must run its
    basic-auth app with a required admin password, Flower `--basic-auth` from a required secret,
    the Airflow api-server the FAB auth manager; any other published service is refused."""
    env = compose["x-airflow-common"]["environment"]
    refused = []
    for name, service in compose["services"].items():
        if not service.get("ports"):
            continue
        command, environment = _command(service), {**env, **service.get("environment", {})}
        if service.get("entrypoint") == ["mlflow"]:
            guarded = "--app-name=basic-auth" in command and _required_secret(
                str(service.get("environment", {}).get("MLFLOW_AUTH_ADMIN_PASSWORD", "")))
        elif command[:2] == ["celery", "flower"]:
            guarded = any(arg.startswith("--basic-auth=") and _required_secret(arg) for arg in command)
        elif command == ["api-server"]:
            guarded = environment.get("AIRFLOW__CORE__AUTH_MANAGER") == FAB_AUTH_MANAGER
        else:
            guarded = False
        if not guarded:
            refused.append(f"{name} publishes {service['ports']} without authentication")
    return refused


def test_no_secret_may_be_empty():
    assert secrets_that_may_be_empty(COMPOSE.read_text()) == []


def test_a_secret_that_may_be_empty_is_caught():
    text = COMPOSE.read_text()
    broken = text.replace("${MLFLOW_ADMIN_PASSWORD:?set MLFLOW_ADMIN_PASSWORD in .env}", "${MLFLOW_ADMIN_PASSWORD}", 1)
    assert broken != text and secrets_that_may_be_empty(broken) == ["MLFLOW_ADMIN_PASSWORD"]


def test_no_service_is_published_without_authentication(compose):
    assert published_without_authentication(compose) == []
    assert "ports" not in compose["services"]["mlflow"], "MLflow is not published by default"
    assert "ports" not in compose["services"]["redis"] and "ports" not in compose["services"]["postgres"]
    for name in ("mlflow-ui", "flower"):  # published only in their profiles, and on loopback only
        service = compose["services"][name]
        assert service["profiles"] and all(str(port).startswith("127.0.0.1:") for port in service["ports"]), name


def test_a_service_published_without_authentication_is_caught(compose):
    services = compose["services"]
    mlflow = {**services["mlflow"], "ports": ["5000:5000"],
              "command": [arg for arg in services["mlflow"]["command"] if arg != "--app-name=basic-auth"]}
    flower = {**services["flower"], "command": ["celery", "flower"]}
    redis = {**services["redis"], "ports": ["6379:6379"]}
    for name, broken in (("mlflow", mlflow), ("flower", flower), ("redis", redis)):
        assert published_without_authentication({**compose, "services": {**services, name: broken}}) == [
            f"{name} publishes {broken['ports']} without authentication"]
    api = services["airflow-apiserver"]
    simple = {**api, "environment": {**api["environment"], "AIRFLOW__CORE__AUTH_MANAGER":
                                     "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"}}
    assert published_without_authentication({**compose, "services": {**services, "airflow-apiserver": simple}}) == [
        f"airflow-apiserver publishes {api['ports']} without authentication"]


def test_mlflow_and_airflow_authenticate_with_required_secrets(compose):
    mlflow = compose["services"]["mlflow"]
    auth_ini = ROOT / "config" / "mlflow" / "basic_auth.ini"
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == "/opt/valueflow/config/mlflow/basic_auth.ini"
    assert "COPY --chown=airflow:root config /opt/valueflow/config" in (ROOT / "Dockerfile").read_text()
    import configparser

    auth = configparser.ConfigParser()
    auth.read(auth_ini)
    assert urlparse(auth["mlflow"]["database_uri"]).path == "/mlflow_auth"  # created by postgres/init
    assert urlparse(auth["mlflow"]["database_uri"]).password is None  # from PGPASSWORD, a required secret
    assert auth["mlflow"]["default_permission"] == "NO_PERMISSIONS"
    assert _required_secret(mlflow["environment"]["PGPASSWORD"])
    assert _required_secret(mlflow["environment"]["MLFLOW_FLASK_SERVER_SECRET_KEY"])
    env = compose["x-airflow-common"]["environment"]
    assert env["MLFLOW_TRACKING_USERNAME"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"]
    assert env["MLFLOW_TRACKING_PASSWORD"] == mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"]
    init = compose["services"]["airflow-init"]
    assert "airflow users create --role Admin" in init["command"][1]
    assert _required_secret(init["environment"]["AIRFLOW_ADMIN_PASSWORD"])


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_refuses_an_env_with_an_empty_secret(tmp_path):
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yaml")
    values = {k: (v or "x") for k, v in env_example().items()} | {"REDIS_PASSWORD": ""}
    (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in values.items()) + "\n")
    result = subprocess.run(["docker-compose", "config", "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0 and "set REDIS_PASSWORD in .env" in result.stderr


def test_postgres_creates_the_warehouse_and_mlflow_databases(compose):
    postgres = compose["services"]["postgres"]
    assert "./postgres/init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    assert set(postgres["environment"]["VALUEFLOW_DATABASES"].split()) == {"warehouse", "mlflow", "mlflow_auth"}
    assert (ROOT / "postgres" / "init" / "01-databases.sh").stat().st_mode & 0o111


def _host(url: str) -> str:
    url = re.sub(r"\$\{[^}]*\}", "x", url)  # as compose interpolates it (a ${VAR:?message} holds "?")
    return urlparse(url.split("+", 1)[-1] if url.startswith("db+") else url).hostname


def test_every_service_the_dags_need_is_reachable_by_name(compose):
    env = compose["x-airflow-common"]["environment"]
    services = set(compose["services"])
    needs = {  # setting read by ml/ or Airflow -> service that must answer it
        "AIRFLOW_CONN_WAREHOUSE": "postgres",  # ml.settings.warehouse_url
        "MLFLOW_TRACKING_URI": "mlflow",  # ml.settings.mlflow_tracking_uri
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgres",
        "AIRFLOW__CELERY__BROKER_URL": "redis",
        "AIRFLOW__CELERY__RESULT_BACKEND": "postgres",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "airflow-apiserver",
    }
    for setting, service in needs.items():
        assert _host(env[setting]) == service in services, setting
    assert urlparse(re.sub(r"\$\{[^}]*\}", "x", env["AIRFLOW_CONN_WAREHOUSE"])).path == "/warehouse"
    mlflow = compose["services"]["mlflow"]["command"]
    assert any(a.startswith("--backend-store-uri=postgresql") and a.endswith("@postgres:5432/mlflow") for a in mlflow)
    assert "--serve-artifacts" in mlflow
    for name in LONG_RUNNING - {"postgres", "redis", "mlflow"}:
        depends = compose["services"][name]["depends_on"]
        assert {"postgres", "redis", "mlflow"} <= set(depends), name
