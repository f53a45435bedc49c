"""The local emulator: AWS faked by moto, the HTTP API served on a local port, no Docker.

One process holds everything, so it all shares one in-memory AWS (see docs/local-development.md):

- `moto.mock_aws()` patches botocore in this process: the handlers, invoked in-process by the
  gateway, reach DynamoDB without an HTTP hop (no AWS_ENDPOINT_URL in their environment).
- `moto.server.ThreadedMotoServer` serves the *same* state on 127.0.0.1:4566 (the LocalStack
  edge port), so other processes (the `chargewatch` CLI, scripts, the AWS CLI) see the same data.
- A `ThreadingHTTPServer` on 127.0.0.1:${PORT:-3000} hands every request to
  `LocalGateway.handle`, which runs the template's authorizer and handler in this process.
- The template's SQS event sources are polled (chargewatch_tools.emulator.queues.QueuePoller) and
  their functions invoked in-process, as Lambda's poller does.
- moto's DynamoDB is patched (in this process only) so a transaction or a query costs what the
  items it touches cost, not the whole table (see _install_moto_patches).

Requests run concurrently, on a pool of CONCURRENCY "execution environments" (threads), each with
its own copy of every handler module, as concurrent Lambda invocations each get their own
environment: a powertools resolver is a module global that keeps the current event and its tenant
between the middleware and the route, so two invocations must never share one. Queue consumers
and schedules run in one more environment of their own, so a slow webhook receiver or a big batch
never holds up a request. moto's in-memory backends are not built for concurrent callers: each
moto call (a few ms) takes one lock (`_serialise_moto`), everything else runs in parallel. See
tests/perf/bench_api.py for the numbers with 1 and 20 clients.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from chargewatch_tools.emulator import moto_fixes
from chargewatch_tools.emulator.schedules import CATCH_UP_SECONDS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_MOTO_PORT = 4566  # the LocalStack edge port: code that works here works against LocalStack
DEFAULT_DYNAMODB_PORT = 8000  # DynamoDB Local's own default
DEFAULT_REGION = "eu-west-1"
DEFAULT_ORGANIZATION_ID = "00000000-0000-4000-8000-000000000001"
DEMO_ORGANIZATION_NAME = "Demo Charging"
STACK_PREFIX = "chargewatch-local"
# API Gateway HTTP APIs refuse bodies over 10 MB before any Lambda runs; Lambda itself stops at 6 MB
# (the handlers answer that one with their own 413 JSON).
MAX_REQUEST_BYTES = 10 * 1024 * 1024
QUEUE_IDLE_POLL_SECONDS = 0.5
DEFAULT_CONCURRENCY = 4  # request environments; CHARGEWATCH_EMULATOR_CONCURRENCY overrides
DEFAULT_QUEUE_WORKERS = (
    2  # queue consumer environments (CHARGEWATCH_EMULATOR_QUEUE_WORKERS): a slow receiver holds up one
)
LISTEN_BACKLOG = 128  # http.server's default of 5 resets connections under a burst of clients
SCHEDULE_MAX_SLEEP_SECONDS = 30.0  # re-reads the clock at least this often (a laptop that slept)
# Variables that would send the in-process handlers over HTTP (or to real AWS) instead of the mock.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_PROFILE",
    "CHARGEWATCH_AWS_MODE",
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"}
# One emulator per process: a second would share the first's moto state and os.environ.
_running: Emulator | None = None
_running_lock = threading.Lock()


class EmulatorError(RuntimeError):
    """The emulator cannot start; the message says why and what to do."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def something_listens(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- HTTP front end


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    """Turns one HTTP request into `LocalGateway.handle(...)` and writes its answer back."""

    protocol_version = "HTTP/1.1"  # keep-alive: a client's latency is the API's, not TCP setup
    # Headers and body leave in separate writes; with Nagle on, each response waits for the
    # client's delayed ACK (~40 ms on Linux). TCP_NODELAY sends them at once.
    disable_nagle_algorithm = True
    server_version = "ChargewatchLocal/1.0"
    server: _EmulatorHTTPServer

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _headers(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            if key in merged:
                merged[key] += ("; " if key == "cookie" else ",") + value
            else:
                merged[key] = value
        return merged

    def _dispatch(self) -> None:
        started = time.perf_counter()
        try:
            declared = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            declared = -1
        if declared < 0 or declared > MAX_REQUEST_BYTES:
            self.close_connection = True
            if declared > 0:
                self._write_error(413, "payload_too_large", f"request body exceeds {MAX_REQUEST_BYTES} bytes")
            else:
                self._write_error(400, "bad_request", "Content-Length is not a valid length")
            return
        body = self._read_body()
        target = urlsplit(self.path)
        try:
            response = self.server.emulator.invoke(
                self.command,
                target.path or "/",
                headers=self._headers(),
                query=target.query,
                body=body,
                source_ip=self.client_address[0],
            )
        except RuntimeError:  # the invocation thread is gone: the emulator is stopping
            self.close_connection = True
            self._write_error(503, "service_unavailable", "the emulator is stopping")
            return
        self._write(response.status, response.headers, response.body, response.cookies)
        if self.server.emulator.verbose:
            elapsed = (time.perf_counter() - started) * 1000
            print(f"{self.command} {self.path} -> {response.status} ({elapsed:.1f} ms)", file=sys.stderr, flush=True)

    def _write(self, status: int, headers: dict[str, str], body: bytes, cookies: list[str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            # Say so: a client that pools connections would otherwise send its next request
            # into a socket this server is about to close.
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _write_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
        self._write(status, {"content-type": "application/json", **(headers or {})}, body, [])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own answers (malformed request line, headers too long) in the error shape."""
        self.close_connection = True
        self._write_error(code, "bad_request" if code < 500 else "server_error", message or explain or "bad request")

    def _method_not_allowed(self) -> None:
        self.close_connection = True
        self._write_error(
            405,
            "method_not_allowed",
            f"{self.command} is not supported",
            {"allow": "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD"},
        )

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with an HTML 501 page; API Gateway
        # refuses such methods, so this answers 405 in the API's error shape instead.
        if name.startswith("do_"):
            return self._method_not_allowed
        raise AttributeError(name)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # one line per request is printed by _dispatch when verbose


class _EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG
    emulator: Emulator


# --------------------------------------------------------------------------- the emulator


@dataclass
class Emulator:
    """A running emulator. `stop()` ends both servers and restores this process's environment."""

    url: str
    moto_url: str
    api_key: str
    organization_id: str
    stack: Any
    gateway: Any
    verbose: bool = False
    _http: _EmulatorHTTPServer | None = None
    _http_thread: threading.Thread | None = None
    _moto_server: Any = None
    _mock: Any = None
    _saved_environ: dict[str, str] = field(default_factory=dict)
    concurrency: int = DEFAULT_CONCURRENCY
    # Request environments: one thread each, each with its own gateway (handler modules); see module doc.
    _requests: ThreadPoolExecutor | None = None
    _environments: threading.local = field(default_factory=threading.local)
    _environment_count: int = 0
    _environment_lock: threading.Lock = field(default_factory=threading.Lock)
    # The environment of queue consumers, schedules and start-up work.
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="chargewatch-background")
    )
    _unlock_moto: Any = None
    _restore_powertools: Any = None
    # "DynamoDB Local (<data dir>)" or "in-memory moto (<why>)": where this run keeps its table
    database: str = "in-memory moto"
    _dynamodb_local: Any = None
    _profiler: Any = None
    _profile_path: str | None = None
    _uninstall_patches: Any = None
    _poller: Any = None
    _poller_threads: list[threading.Thread] = field(default_factory=list)
    queue_workers: int = DEFAULT_QUEUE_WORKERS
    _scheduler: Any = None
    _scheduler_thread: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def moto_port(self) -> int:
        return int(self.moto_url.rsplit(":", 1)[1])

    @property
    def table_name(self) -> str:
        return self.stack.refs["Table"]

    def invoke(self, method: str, path: str, **request: Any):
        """One request through the gateway: authorizer + handler, on the one invocation thread."""
        assert self._requests is not None, "the emulator is not started"
        return self._requests.submit(self._invoke_in_environment, method, path, request).result()

    def _environment_gateway(self):
        """This request thread's own gateway: its execution environment, cold-started on first use."""
        gateway = getattr(self._environments, "gateway", None)
        if gateway is None:
            from chargewatch_tools.emulator.gateway import FunctionRegistry, LocalGateway

            with self._environment_lock:
                self._environment_count += 1
                instance = f"env{self._environment_count}"
            gateway = self._environments.gateway = LocalGateway(self.stack, FunctionRegistry(self.stack, instance))
        return gateway

    def _invoke_in_environment(self, method: str, path: str, request: dict[str, Any]):
        gateway = self._environment_gateway()
        if self._profiler is None:
            return gateway.handle(method, path, **request)
        self._profiler.enable()
        try:
            return gateway.handle(method, path, **request)
        finally:
            self._profiler.disable()

    def _poll_queues(self, poller) -> None:
        """The template's SQS event sources, polled like Lambda does, in this consumer's own
        execution environment (its thread and handler modules): SQS hands each message to one."""
        while not self._stopping.is_set():
            try:
                handled = poller.poll_once()
            except Exception:  # keep polling: one bad round must not end the emulator's consumers
                import traceback

                traceback.print_exc()
                handled = 0
            if not handled:  # idle: an empty poll costs ~2 ms per queue
                self._stopping.wait(QUEUE_IDLE_POLL_SECONDS)

    def _run_schedules(self) -> None:
        """The template's schedules on their cron/rate, and the SHADE catch-up; on the invocation thread."""
        while not self._stopping.is_set():
            self._scheduler.run_due(datetime.now(UTC))
            self._stopping.wait(min(self._scheduler.seconds_until_due(datetime.now(UTC)), SCHEDULE_MAX_SLEEP_SECONDS))

    def _invoke_scheduled(self, function: str, event: dict[str, Any]) -> Any:
        if self._stopping.is_set():
            return None
        if self.verbose:
            print(f"schedule -> {function} {json.dumps(event.get('detail') or {})}", file=sys.stderr, flush=True)
        return self._worker.submit(self.gateway.registry.invoke, function, event).result()

    def _queues_busy(self) -> bool:
        if self._stopping.is_set():
            return True
        return self._poller is not None and self._worker.submit(self._poller.pending).result() > 0

    @property
    def schedules(self) -> list[str]:
        if self._scheduler is None:
            return []
        return [f"{s.name} {s.expression} {s.timezone}" for s in self._scheduler.schedules] + [
            f"{function} catch-up every {CATCH_UP_SECONDS:.0f} s" for function in self._scheduler.catch_up_functions
        ]

    @property
    def queue_consumers(self) -> list[str]:
        return [
            f"{source.function} <- {source.queue_url.rsplit('/', 1)[-1]}"
            for source in (self._poller.sources if self._poller else [])
        ]

    def stop(self) -> None:
        global _running
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        with _running_lock:
            if _running is self:
                _running = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
        for thread in self._poller_threads:
            thread.join(timeout=10)
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(timeout=10)
        if self._requests is not None:
            self._requests.shutdown(wait=True)
        self._worker.shutdown(wait=True)
        if self._unlock_moto is not None:
            self._unlock_moto()
        if self._restore_powertools is not None:
            self._restore_powertools()
        if self._dynamodb_local is not None:
            self._dynamodb_local.stop()
        if self._moto_server is not None:
            self._moto_server.stop()
        if self._mock is not None:
            self._mock.stop()
        if self._uninstall_patches is not None:
            self._uninstall_patches()
        if self._saved_environ:
            os.environ.clear()
            os.environ.update(self._saved_environ)
        from chargewatch import settings
        from chargewatch.dal import table
        from chargewatch.services import auth

        table.bind(settings.reload_settings())
        auth.clear_cache()
        if self._profiler is not None:
            _report_profile(self._profiler, self._profile_path)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _report_profile(profiler, path: str | None) -> None:
    import pstats

    if path:
        profiler.dump_stats(path)
        print(f"profile written to {path} (python -m pstats {path})", file=sys.stderr)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(35)
    stats.sort_stats("tottime").print_stats(25)


def _use_dynamodb_local(emulator: Emulator, data_dir: str | os.PathLike, port: int) -> None:
    """Start DynamoDB Local on `data_dir` and send this process's DynamoDB calls there (moto keeps
    SQS, S3 and Cognito); on failure leave DynamoDB in moto and record why."""
    from pathlib import Path

    from chargewatch_tools.emulator import dynamodb_local

    try:
        emulator._dynamodb_local = dynamodb_local.start(Path(data_dir), port)
    except dynamodb_local.Unavailable as reason:
        emulator.database = f"in-memory moto: DynamoDB Local unavailable ({reason}); data is lost at stop"
        print(f"chargewatch emulator: {emulator.database}", file=sys.stderr, flush=True)
        return
    # botocore's per-service endpoint: moto's mock lets calls to it through to DynamoDB Local
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = emulator._dynamodb_local.url
    emulator.database = f"DynamoDB Local on {emulator._dynamodb_local.url}, data in {Path(data_dir).resolve()}"


def _key_for_kept_organization(organization_id: str, demo_api_key: str | None) -> str:
    """The demo organization survived a restart: DEMO_API_KEY when it is already its key, else a
    new key (the old ones keep working; a plain key is never stored, so it cannot be shown again)."""
    from chargewatch import clock
    from chargewatch.dal import api_keys as api_keys_dal
    from chargewatch.services import api_keys
    from chargewatch.settings import get_settings

    if demo_api_key:
        existing = api_keys_dal.find_by_hash(api_keys.hash_key(demo_api_key))
        if existing is not None and existing.organizationId == organization_id:
            return demo_api_key
    key, _ = api_keys.issue_key(
        organization_id, env=get_settings().api_key_env, name=f"make run {clock.iso_now()}", key=demo_api_key
    )
    return key


def _thread_local_powertools_event():
    """powertools keeps the event being resolved in class attributes of its BaseRouter
    (`BaseRouter.current_event = ...` in `resolve`): one per process, as Lambda runs one event per
    process. Concurrent request environments in one process then read each other's event (a body
    answered for another request: seen with 20 clients). Here they are per thread: instance reads go
    through a property in BaseRouter's dict, class-level reads and writes through its metaclass.
    Returns a function that restores powertools as it was."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter

    original_meta = type(BaseRouter)
    if getattr(original_meta, "_chargewatch_thread_local", False):
        return lambda: None
    state = threading.local()
    names = ("current_event", "lambda_context")

    def accessor(name: str) -> property:
        def read(_owner: Any) -> Any:
            try:
                return getattr(state, name)
            except AttributeError:
                raise AttributeError(name) from None

        def write(_owner: Any, value: Any) -> None:
            setattr(state, name, value)

        return property(read, write)

    previous = {name: BaseRouter.__dict__[name] for name in names if name in BaseRouter.__dict__}
    for name in names:  # before the metaclass swap: these land in BaseRouter.__dict__, for instances
        setattr(BaseRouter, name, accessor(name))
    per_thread = type(
        "ThreadLocalRouterMeta",
        (original_meta,),
        {**{name: accessor(name) for name in names}, "_chargewatch_thread_local": True},
    )
    BaseRouter.__class__ = per_thread

    def restore() -> None:
        BaseRouter.__class__ = original_meta
        for name in names:
            delattr(BaseRouter, name)
        for name, value in previous.items():
            setattr(BaseRouter, name, value)

    return restore


_MOTO_LOCK = threading.RLock()


def _serialise_moto():
    """One moto call at a time in this process (moto's in-memory backends are not built for
    concurrent callers); returns a function that removes the lock."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action
    if getattr(original, "_chargewatch_locked", False):
        return lambda: None

    def call_action(self):  # type: ignore[no-untyped-def]
        with _MOTO_LOCK:
            return original(self)

    call_action._chargewatch_locked = True  # type: ignore[attr-defined]
    BaseResponse.call_action = call_action

    def unlock() -> None:
        BaseResponse.call_action = original

    return unlock


def _env_count(name: str, default: int = DEFAULT_CONCURRENCY) -> int:
    raw = os.environ.get(name) or str(default)
    try:
        return max(1, int(raw))
    except ValueError:
        raise EmulatorError(f"{name} must be a number, not {raw!r}") from None


def apply_demo_key_policy(api_key: str | None) -> None:
    """A DEMO_API_KEY chosen by hand need not carry our checksum: then this process accepts
    unchecksummed keys (8-256 printable characters) — a local-only relaxation, never deployed.
    Changes os.environ: call it where the caller restores the environment afterwards."""
    if api_key is None:
        return
    from chargewatch.services import api_keys

    if api_keys.is_well_formed(api_key):
        return
    if not api_keys.is_plausible(api_key):
        raise EmulatorError(
            "DEMO_API_KEY must be 8-256 printable characters without spaces "
            "(best: a key printed by a previous run). Unset it to have one generated."
        )
    os.environ["API_KEY_CHECKSUM_REQUIRED"] = "false"
    print(
        "chargewatch emulator: DEMO_API_KEY has no Chargewatch checksum; accepting unchecksummed keys", file=sys.stderr
    )


def start_emulator(
    port: int = 0,
    moto_port: int = DEFAULT_MOTO_PORT,
    *,
    host: str = DEFAULT_HOST,
    region: str | None = None,
    demo_api_key: str | None = None,
    organization_id: str | None = None,
    verbose: bool = False,
    concurrency: int | None = None,
    profile: bool | str = False,
    schedules: bool = False,
    data_dir: str | os.PathLike | None = None,
    dynamodb_port: int = 0,
) -> Emulator:
    """Start moto (in-process mock + server), the template's resources, the demo org and the API.

    `port=0` / `moto_port=0` pick free ports (tests). `demo_api_key` / `organization_id` default to
    DEMO_API_KEY / DEMO_ORGANIZATION_ID from the environment. `schedules` runs the template's
    schedules and the SHADE catch-up (`make run` does; tests of other things leave them off).
    `data_dir` keeps the table in DynamoDB Local there (on `dynamodb_port`), so a restart finds its
    data; without it, or when DynamoDB Local cannot run, the table is in-memory moto (`.database`).
    Returns once both servers accept connections; call `.stop()` (or use it as a context manager).
    """
    demo_api_key = demo_api_key if demo_api_key is not None else (os.environ.get("DEMO_API_KEY") or None)
    organization_id = organization_id or os.environ.get("DEMO_ORGANIZATION_ID") or DEFAULT_ORGANIZATION_ID
    if "#" in organization_id or not organization_id.strip():
        raise EmulatorError("DEMO_ORGANIZATION_ID must be a non-empty id without '#'")
    if moto_port and not port_is_free(host, moto_port):
        raise EmulatorError(
            f"{host}:{moto_port} (moto server) is already in use - is another emulator "
            f"(`make run`) or LocalStack running? Stop it, or choose another port (--moto-port / MOTO_PORT)."
        )
    if port and not port_is_free(host, port):
        raise EmulatorError(
            f"{host}:{port} (API) is already in use - stop what listens there or choose another port (--port / PORT)."
        )

    import boto3
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from chargewatch_tools.emulator.gateway import LocalGateway
    from chargewatch_tools.infra import create_stack, local_jwks_url

    global _running
    with _running_lock:
        if _running is not None:
            raise EmulatorError(
                f"an emulator is already running in this process ({_running.url or 'starting'}); "
                "stop it first: two would share one in-memory AWS and one environment"
            )
        emulator = _running = Emulator(
            url="",
            moto_url="",
            api_key="",
            organization_id=organization_id,
            stack=None,
            gateway=None,
            verbose=verbose,
            concurrency=1 if profile else max(1, concurrency or _env_count("CHARGEWATCH_EMULATOR_CONCURRENCY")),
            queue_workers=_env_count("CHARGEWATCH_EMULATOR_QUEUE_WORKERS", DEFAULT_QUEUE_WORKERS),
        )

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    emulator._saved_environ = dict(os.environ)
    try:
        for name in _ENDPOINT_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
        apply_demo_key_policy(demo_api_key)
        logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
        if os.environ.get("CHARGEWATCH_EMULATOR_MOTO_PATCHES", "1").lower() not in ("0", "false", "no"):
            try:
                emulator._uninstall_patches = moto_fixes.install()
            except Exception as error:  # another moto version: run unpatched (slower), but run
                print(
                    f"chargewatch emulator: moto DynamoDB left unpatched ({error!r}); writes will slow down "
                    "as the table grows",
                    file=sys.stderr,
                )
        emulator._mock = mock_aws()
        emulator._mock.start()
        emulator._unlock_moto = _serialise_moto()
        emulator._restore_powertools = _thread_local_powertools_event()
        emulator._moto_server = ThreadedMotoServer(ip_address=host, port=moto_port, verbose=False)
        emulator._moto_server.start()
        moto_host, bound_moto_port = emulator._moto_server.get_host_and_port()
        emulator.moto_url = f"http://{moto_host}:{bound_moto_port}"

        if data_dir is not None:
            _use_dynamodb_local(emulator, data_dir, dynamodb_port)
        stack = create_stack(boto3.Session(region_name=region), prefix=STACK_PREFIX)
        emulator.stack = stack
        # Every function's template environment (Globals + its own). In-process they share one
        # os.environ, as they share one table; FunctionRegistry re-applies each at its cold start.
        os.environ.update(stack.process_environment())
        # No X-Ray daemon locally (what `sam local` does too); nothing else is overridden.
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        # No CloudWatch either: EMF lines printed to this process's stdout would interleave with
        # the output of whatever else runs in it (the CLI's --json, a test's captured output).
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # Tokens name the real Cognito issuer; their keys are served by the moto server.
        os.environ["COGNITO_JWKS_URL"] = local_jwks_url(stack, emulator.moto_url) or ""
        # Presigned uploads (fine-tune data) name the moto server, the S3 a local client can reach.
        os.environ["S3_PUBLIC_ENDPOINT_URL"] = emulator.moto_url
        # Local mode: webhooks may target http://127.0.0.1 receivers (demos); see docs/webhooks.md.
        os.environ.setdefault("WEBHOOK_ALLOW_LOCAL_HTTP", "true")

        from chargewatch import settings
        from chargewatch.dal import table
        from chargewatch.services import auth
        from chargewatch.services.organizations import create_organization

        table.bind(settings.reload_settings())
        auth.clear_cache()
        emulator.gateway = gateway = LocalGateway(stack)
        # Cold-start every routed function now: import errors show at start, not on a request.
        functions = {route["function"] for route in gateway.routes}
        if gateway.default_authorizer:
            functions.add(gateway.default_authorizer["function"])

        def cold_start_and_provision() -> str:
            for logical_id in sorted(functions):
                gateway.registry.handler(logical_id)
            from chargewatch.dal import organizations as organizations_dal

            if organizations_dal.get(organization_id) is None:
                return create_organization(
                    DEMO_ORGANIZATION_NAME, organization_id=organization_id, api_key=demo_api_key
                ).api_key
            return _key_for_kept_organization(organization_id, demo_api_key)

        # On the invocation thread: pynamodb keeps its botocore client per thread.
        emulator.api_key = emulator._worker.submit(cold_start_and_provision).result()

        from chargewatch_tools.emulator.queues import QueuePoller

        def new_poller(registry: Any) -> QueuePoller:
            # Failed messages come back after 2 s here instead of the queue's production visibility timeout.
            return QueuePoller(registry, boto3.client("sqs", region_name=region), failed_visibility_seconds=2)

        emulator._poller = new_poller(emulator.gateway.registry)  # counts pending messages for the scheduler
        if emulator._poller.sources:
            from chargewatch_tools.emulator.gateway import FunctionRegistry

            for number in range(emulator.queue_workers):
                poller = new_poller(FunctionRegistry(stack, f"queue{number + 1}"))
                thread = threading.Thread(
                    target=emulator._poll_queues, args=(poller,), name=f"chargewatch-sqs-{number + 1}", daemon=True
                )
                emulator._poller_threads.append(thread)
                thread.start()

        if schedules:
            from chargewatch_tools.emulator.schedules import Scheduler, template_schedules

            emulator._scheduler = Scheduler(
                template_schedules(stack.resources("AWS::Serverless::Function")),
                emulator._invoke_scheduled,
                datetime.now(UTC),
                busy=emulator._queues_busy,
            )
            emulator._scheduler_thread = threading.Thread(
                target=emulator._run_schedules, name="chargewatch-schedules", daemon=True
            )
            emulator._scheduler_thread.start()

        emulator._requests = ThreadPoolExecutor(
            max_workers=emulator.concurrency, thread_name_prefix="chargewatch-request"
        )
        if profile:
            import cProfile

            emulator._profiler = cProfile.Profile()
            emulator._profile_path = profile if isinstance(profile, str) else None

        try:
            http = _EmulatorHTTPServer((host, port), _GatewayRequestHandler)
        except OSError as error:
            raise EmulatorError(f"cannot listen on {host}:{port}: {error}") from error
        http.emulator = emulator
        emulator._http = http
        emulator.url = f"http://{host}:{http.server_address[1]}"
        emulator._http_thread = threading.Thread(target=http.serve_forever, name="chargewatch-api", daemon=True)
        emulator._http_thread.start()
    except BaseException:
        emulator.stop()
        raise
    return emulator


# --------------------------------------------------------------------------- command line


def curl_example(url: str, api_key: str) -> str:
    body = {
        "sessionId": "sess-demo-001",
        "chargingStationId": "CP-NL-AMS-0042",
        "connectorId": "1",
        "meterValues": [
            {
                "timestamp": "2026-02-27T10:00:00Z",
                "measurand": "Energy.Active.Import.Register",
                "unit": "kWh",
                "value": 0,
            },
            {
                "timestamp": "2026-02-27T10:15:00Z",
                "measurand": "Energy.Active.Import.Register",
                "unit": "kWh",
                "value": 5.5,
            },
            {
                "timestamp": "2026-02-27T10:30:00Z",
                "measurand": "Energy.Active.Import.Register",
                "unit": "kWh",
                "value": 11.1,
            },
        ],
    }
    return (
        f"curl -s -X POST {url}/v1/sessions \\\n"
        f"  -H 'Authorization: Bearer {api_key}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(body)}'"
    )


def banner(emulator: Emulator) -> str:
    lines = [
        "Chargewatch local emulator - no AWS account, no Docker (Ctrl-C stops it)",
        "",
        f"  API URL               {emulator.url}",
        f"  AWS endpoint (moto)   {emulator.moto_url}   table {emulator.table_name}",
        f"  Database              {emulator.database}",
        f"  Demo organization id  {emulator.organization_id}",
        f"  Demo API key          {emulator.api_key}",
        f"  Queue consumers       {', '.join(emulator.queue_consumers) or 'none in template.yaml'}",
        f"  Schedules             {', '.join(emulator.schedules) or 'off (CHARGEWATCH_EMULATOR_SCHEDULES=0)'}",
        f"  Concurrency           {emulator.concurrency} request environments, {emulator.queue_workers} queue "
        "consumers and one for schedules (CHARGEWATCH_EMULATOR_CONCURRENCY, CHARGEWATCH_EMULATOR_QUEUE_WORKERS)",
        "",
        "Create a session (3 meter values):",
        "",
        curl_example(emulator.url, emulator.api_key),
        "",
        f"List sessions:  curl -s {emulator.url}/v1/sessions -H 'Authorization: Bearer {emulator.api_key}'",
        "",
        "From another terminal: `chargewatch invoke SessionsFunction --event events/sessions/create.json`,",
        "`chargewatch admin create-org --local --name NAME`"
        + ("" if emulator.moto_port == DEFAULT_MOTO_PORT else f" (with AWS_ENDPOINT_URL={emulator.moto_url})")
        + ".",
        f"A person: `chargewatch admin create-user --local --email E --password P --org {emulator.organization_id} "
        "--role admin`, then `chargewatch login --local --email E --password P` prints a token (docs/identity.md).",
    ]
    return "\n".join(lines)


def _data_dir() -> str | None:
    """CHARGEWATCH_DATA_DIR (default .local/data); "memory" keeps nothing (in-memory moto)."""
    from chargewatch_tools.emulator.dynamodb_local import DEFAULT_DATA_DIR

    chosen = os.environ.get("CHARGEWATCH_DATA_DIR") or str(DEFAULT_DATA_DIR)
    return None if chosen.lower() == "memory" else chosen


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise EmulatorError(f"{name} must be a port number, not {raw!r}") from None
    if not 0 <= value <= 65535:
        raise EmulatorError(f"{name} must be a port number (0-65535), not {value}")
    return value


def run(port: int | None = None, moto_port: int | None = None, *, verbose: bool | None = None) -> int:
    """Run until SIGINT/SIGTERM; exit code 0 on a clean stop, 2 when it cannot start."""
    try:
        port = _env_port("PORT", DEFAULT_PORT) if port is None else port
        moto_port = _env_port("MOTO_PORT", DEFAULT_MOTO_PORT) if moto_port is None else moto_port
        if verbose is None:
            verbose = os.environ.get("CHARGEWATCH_EMULATOR_VERBOSE", "").lower() in ("1", "true", "yes")
        profile: bool | str = os.environ.get("CHARGEWATCH_PROFILE") or False
        if profile in ("1", "true", "yes"):
            profile = True
        schedules = os.environ.get("CHARGEWATCH_EMULATOR_SCHEDULES", "1").lower() not in ("0", "false", "no")
        emulator = start_emulator(
            port,
            moto_port,
            verbose=verbose,
            profile=profile,
            schedules=schedules,
            data_dir=_data_dir(),
            dynamodb_port=_env_port("DYNAMODB_LOCAL_PORT", DEFAULT_DYNAMODB_PORT),
        )
    except EmulatorError as error:
        print(f"chargewatch emulator: {error}", file=sys.stderr, flush=True)
        return 2

    stopping = threading.Event()

    def _request_stop(signum, _frame) -> None:
        stopping.set()
        signal.signal(signum, signal.SIG_DFL)  # a second Ctrl-C ends the process at once

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    from chargewatch_tools.emulator import dynamodb_local

    if emulator._dynamodb_local is not None:  # the CLI's --local commands find DynamoDB Local by it
        dynamodb_local.write_state(emulator._dynamodb_local.url, emulator.moto_url)
    print(banner(emulator), flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        print("\nstopping the emulator...", file=sys.stderr, flush=True)
        dynamodb_local.clear_state()
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    kept = emulator._dynamodb_local is not None
    print(
        "emulator stopped" + (" (DynamoDB data kept for the next run)" if kept else " (in-memory data discarded)"),
        file=sys.stderr,
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m chargewatch_tools.emulator", description="Chargewatch local emulator (moto + HTTP API)"
    )
    parser.add_argument("--port", type=int, default=None, help="API port (default: $PORT or 3000)")
    parser.add_argument("--moto-port", type=int, default=None, help="moto server port (default: $MOTO_PORT or 4566)")
    parser.add_argument("--verbose", action="store_true", default=None, help="log every request")
    args = parser.parse_args(argv)
    return run(args.port, args.moto_port, verbose=args.verbose)
