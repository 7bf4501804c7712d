"""docker-compose.yaml's topology on loopback, without containers, from the compose file's own settings.

The Airflow environment is read from `x-airflow-common.environment` of docker-compose.yaml,
interpolated with a local `.env` (the keys of .env.example) and "localized": service host names
(postgres, redis, mlflow, airflow-apiserver) become 127.0.0.1 ports, the databases become
throw-away ones (created by the compose file's own postgres/init script), Redis gets a dedicated DB
number and a queue of its own, and container paths become folders of this checkout and a tmp dir.
MLflow runs the compose file's basic-auth app with its own throw-away auth database, and Airflow
its FAB auth manager with an admin user, so every client here logs in as in production.

Every process runs in its own session (process group) and carries VALUEFLOW_STACK_ID in its
environment; `stop()` kills the groups and every descendant, and `survivors()` finds any process
still carrying the marker.
"""
from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
PG_HOST, PG_PORT, PG_ADMIN_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DB = int(os.environ.get("VALUEFLOW_SYSTEM_REDIS_DB", "13"))  # dedicated to this test
MARKER = "VALUEFLOW_STACK_ID"
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}")
_URL = re.compile(r"^(?P<scheme>[a-z0-9+]+://)(?:(?P<userinfo>[^@/]*)@)?(?P<host>[A-Za-z0-9_.-]+)"
                  r"(?::(?P<port>\d+))?(?P<path>/.*)?$")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# This machine's PostgreSQL (trust auth) and Redis have no passwords, which production must refuse.
LOOPBACK_EMPTY_SECRETS = frozenset({"POSTGRES_PASSWORD", "REDIS_PASSWORD"})


def interpolate(text: str, values: dict[str, str], allow_empty: frozenset[str] = LOOPBACK_EMPTY_SECRETS) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?message} and $$, as `docker compose` does with the .env file."""
    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        value = values.get(match.group(1), "")
        if match.group(2) == "?" and not value and match.group(1) not in allow_empty:
            raise ValueError(f"{match.group(1)}: {match.group(3)}")
        return value if value else (match.group(3) if match.group(2) == "-" else "") or ""
    return _VAR.sub(substitute, text)


def localize(value: str, hosts: dict[str, str], databases: dict[str, str], redis_db: int) -> str:
    """Point a URL at a compose service to its loopback stand-in (host, port, database)."""
    match = _URL.match(value)
    if not match or match["host"] not in hosts:
        return value
    userinfo = f"{match['userinfo']}@" if match["userinfo"] is not None else ""
    path = match["path"] or ""
    if match["host"] == "redis":
        path = f"/{redis_db}"
    elif path.lstrip("/") in databases:
        path = "/" + databases[path.lstrip("/")]
    return f"{match['scheme']}{userinfo}{hosts[match['host']]}{path}"


def load_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@dataclass
class LocalStack:
    """Start with `start()`, always `stop()` in a finally."""

    work: Path
    shop: Path
    schedule_end: str = ""  # YYYY-MM-DD: ingest_orders is scheduled weekly up to this date only
    stack_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    descendants: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.api_port, self.mlflow_port, self.health_port, self.log_port = (free_port() for _ in range(4))
        self.databases = {name: f"vf_sys_{self.stack_id}_{name}"
                          for name in ("airflow", "warehouse", "mlflow", "mlflow_auth")}
        self.queue = f"valueflow_{self.stack_id}"
        self.logs = self.work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.mlflow_url = f"http://127.0.0.1:{self.mlflow_port}"
        # Throw-away secrets, made once: every process of the stack must see the same ones.
        from cryptography.fernet import Fernet

        self.secrets = {"AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                        **{key: secrets.token_urlsafe(24) for key in (
                            "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD",
                            "MLFLOW_ADMIN_PASSWORD", "MLFLOW_SECRET_KEY", "FLOWER_PASSWORD", "VALUEFLOW_ID_KEY")}}

    @property
    def mlflow_auth(self) -> tuple[str, str]:
        """The MLflow admin login (basic auth), as the Airflow services send it."""
        return "admin", self.secrets["MLFLOW_ADMIN_PASSWORD"]

    @property
    def airflow_login(self) -> tuple[str, str]:
        return "admin", self.secrets["AIRFLOW_ADMIN_PASSWORD"]

    # -- settings ------------------------------------------------------------------------------
    def dotenv(self) -> dict[str, str]:
        """This topology's .env: every key of .env.example, with throw-away secrets."""
        return {
            "POSTGRES_USER": PG_ADMIN_USER, "POSTGRES_PASSWORD": "", "REDIS_PASSWORD": "", **self.secrets,
            "AIRFLOW_ADMIN_USERNAME": self.airflow_login[0], "AIRFLOW_ADMIN_EMAIL": "admin@example.invalid",
            "MLFLOW_ADMIN_USERNAME": self.mlflow_auth[0], "FLOWER_USER": "admin",
            "AIRFLOW_UID": str(os.getuid()), "AIRFLOW_BASE_URL": self.api_url, "AIRFLOW_WORKER_CONCURRENCY": "2",
            "MLFLOW_UI_URL": self.mlflow_url, "MLFLOW_PUBLIC_HOST": "127.0.0.1",
            "VALUEFLOW_IMAGE": "", "VALUEFLOW_INBOX": str(self.shop),
            # Weekly as in production, but ended at the shop's last week, so nothing is scheduled
            # while the test runs and `airflow backfill create` can still fill a past week.
            "VALUEFLOW_INGEST_SCHEDULE": "@weekly" if self.schedule_end else "none",
            "VALUEFLOW_INGEST_END_DATE": self.schedule_end,
        }

    def airflow_env(self) -> dict[str, str]:
        compose = load_compose()
        dotenv = self.dotenv()
        hosts = {"postgres": f"{PG_HOST}:{PG_PORT}", "redis": f"{REDIS_HOST}:{REDIS_PORT}",
                 "mlflow": f"127.0.0.1:{self.mlflow_port}", "airflow-apiserver": f"127.0.0.1:{self.api_port}"}
        env = {key: localize(interpolate(str(value), dotenv), hosts, self.databases, REDIS_DB)
               for key, value in compose["x-airflow-common"]["environment"].items()}
        env.update({  # container paths and ports -> this machine
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(self.health_port),
            "VALUEFLOW_HOME": str(self.work / "var"),
            "VALUEFLOW_SOURCE": str(self.shop),
            "PYTHONPATH": str(REPO_ROOT),
        })
        env.update({  # only here: its own queue, free ports
            "AIRFLOW_HOME": str(self.work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.work / "airflow" / "logs"),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        })
        return env

    def base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AIRFLOW", "MLFLOW_", "VALUEFLOW_", "PYTEST"))}
        env.update({MARKER: self.stack_id, "TF_CPP_MIN_LOG_LEVEL": "2", "GX_ANALYTICS_ENABLED": "False",
                    "PYTHONUNBUFFERED": "1"})
        return env

    def pg_url(self, name: str) -> str:
        return f"postgresql://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/{self.databases[name]}"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        env = {**self.base_env(), **self.airflow_env()}
        (self.work / "var").mkdir(parents=True, exist_ok=True)
        self._create_databases()
        self.spawn("mlflow", self.mlflow_command(), {**self.base_env(), **self.mlflow_env()})  # while Airflow migrates
        self._run("migrate", [sys.executable, "-m", "airflow", "db", "migrate"], env)
        user, password = self.airflow_login  # as airflow-init does in the compose file
        self._run("create-admin", [sys.executable, "-m", "airflow", "users", "create", "--role", "Admin",
                                   "--username", user, "--password", password, "--email", "admin@example.invalid",
                                   "--firstname", "Admin", "--lastname", "ValueFlow"], env)
        self._run("warehouse-schemas", [sys.executable, "-c",
                                        "from ml.warehouse import connect; wh = connect(); wh.ensure_schemas(); wh.close()"],
                  env)
        self.spawn("api-server", [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1",
                                  "--port", str(self.api_port)], env)
        self.spawn("dag-processor", [sys.executable, "-m", "airflow", "dag-processor"], env)
        self.spawn("scheduler", [sys.executable, "-m", "airflow", "scheduler"], env)
        self.spawn("worker", [sys.executable, "-m", "airflow", "celery", "worker", "--queues", self.queue,
                              "--concurrency", env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]], env)
        self.wait_http(f"{self.mlflow_url}/health", "mlflow", 120)
        self.wait_http(f"{self.api_url}/api/v2/version", "api-server", 120)

    def mlflow_env(self) -> dict[str, str]:
        """The compose file's `mlflow` service environment: the admin login, the CSRF key, and the
        auth config, copied with its database pointed at this stack's throw-away one."""
        import configparser

        service = load_compose()["services"]["mlflow"]
        env = {key: interpolate(str(value), self.dotenv()) for key, value in service["environment"].items()}
        auth = configparser.ConfigParser()
        auth.read(REPO_ROOT / env["MLFLOW_AUTH_CONFIG_PATH"].removeprefix("/opt/valueflow/"))
        auth["mlflow"]["database_uri"] = localize(auth["mlflow"]["database_uri"], {"postgres": f"{PG_HOST}:{PG_PORT}"},
                                                  self.databases, REDIS_DB)
        local_ini = self.work / "mlflow-basic-auth.ini"
        with open(local_ini, "w") as out:
            auth.write(out)
        return {**env, "MLFLOW_AUTH_CONFIG_PATH": str(local_ini)}

    def mlflow_command(self) -> list[str]:
        """The compose file's `mlflow` service command, localized."""
        service = load_compose()["services"]["mlflow"]
        hosts = {"postgres": f"{PG_HOST}:{PG_PORT}"}
        dotenv = {**self.dotenv(), "MLFLOW_PUBLIC_HOST": "127.0.0.1"}
        command = [sys.executable, "-m", service["entrypoint"][0]]
        for arg in service["command"]:
            arg = interpolate(arg, dotenv)
            key, _, value = arg.partition("=")
            if key == "--host":
                value = "127.0.0.1"
            elif key == "--port":
                value = str(self.mlflow_port)
            elif key == "--backend-store-uri":
                value = localize(value, hosts, self.databases, REDIS_DB)
            elif key == "--artifacts-destination":
                value = str(self.work / "mlartifacts")
            elif key == "--workers":
                value = "1"
            command.append(f"{key}={value}" if value else key)
        return command

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        process = subprocess.Popen(argv, env=env, cwd=self.work, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.processes[name] = process
        return process

    def _run(self, name: str, argv: list[str], env: dict[str, str], timeout: int = 240) -> None:
        log = self.logs / f"{name}.log"
        with open(log, "wb") as out:
            result = subprocess.run(argv, env=env, cwd=self.work, stdout=out, stderr=subprocess.STDOUT,
                                    timeout=timeout, start_new_session=True)
        if result.returncode:
            raise RuntimeError(f"{shlex.join(argv)} failed ({result.returncode}):\n{self.tail(name)}")

    def _create_databases(self) -> None:
        env = {**self.base_env(), "PGHOST": PG_HOST, "PGPORT": str(PG_PORT), "POSTGRES_USER": PG_ADMIN_USER,
               "POSTGRES_DB": "postgres", "VALUEFLOW_DATABASES": " ".join(self.databases.values())}
        self._run("create-databases", ["bash", str(REPO_ROOT / "postgres" / "init" / "01-databases.sh")], env)

    def _drop_databases(self) -> None:
        import psycopg

        with psycopg.connect(f"postgresql://{PG_ADMIN_USER}@{PG_HOST}:{PG_PORT}/postgres", autocommit=True) as admin:
            for name in self.databases.values():
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _clean_redis(self) -> None:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_DB)
        keys = list(client.scan_iter(f"*{self.queue}*"))
        if keys:
            client.delete(*keys)
        client.close()

    def wait_http(self, url: str, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(1)
        raise TimeoutError(f"{name} did not answer {url} within {timeout}s:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 60) -> str:
        path = self.logs / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _remember_descendants(self) -> None:
        for process in self.processes.values():
            try:
                self.descendants.update(child.pid for child in psutil.Process(process.pid).children(recursive=True))
            except psutil.NoSuchProcess:
                pass

    def stop(self) -> None:
        """Stop every process (worker first), its process group and every descendant; drop the databases."""
        self._remember_descendants()
        worker = self.processes.get("worker")
        if worker is not None:
            self._terminate([worker], grace=10)
        self._terminate([p for name, p in self.processes.items() if name != "worker"], grace=10)
        for pid in self.descendants:
            _kill(pid)
        deadline = time.monotonic() + 10
        while (left := self.survivors()) and time.monotonic() < deadline:
            for proc in left:
                _kill(proc.pid)
            time.sleep(0.5)
        try:
            self._clean_redis()
        finally:
            self._drop_databases()

    @staticmethod
    def _terminate(processes: list[subprocess.Popen], grace: float) -> None:
        """SIGTERM the groups together, wait up to `grace` seconds, then SIGKILL whatever is left."""
        for process in processes:
            if process.poll() is None:
                _killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in processes:
            _killpg(process.pid, signal.SIGKILL)  # whatever is left in the group
            process.wait(timeout=10)

    def survivors(self) -> list[psutil.Process]:
        """Processes still alive that this stack started (they carry the marker)."""
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.pid != os.getpid() and proc.environ().get(MARKER) == self.stack_id \
                        and proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
