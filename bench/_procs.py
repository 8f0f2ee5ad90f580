"""Process helpers shared by benchmarks: throw-away servers, the API as a subprocess, CPU meters.

Nothing here touches the developer's `.data` directory: a benchmark gets its own temporary
DATA_DIR, its own embedded PostgreSQL and Redis in it (when DATABASE_URL / REDIS_URL are
unset) or its own fresh database on the configured server (when they are set), and all of it
is removed when the `throwaway_servers()` block ends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from app.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class Servers:
    """Resolved server URLs and the run's private data directory."""

    database_url: str
    redis_url: str
    data_dir: Path
    embedded_redis: bool

    def settings(self, **overrides: Any) -> Settings:
        """Settings for in-process use (migrations, keys) that point at these servers."""
        values: dict[str, Any] = {
            "database_url": SecretStr(self.database_url),
            "redis_url": SecretStr(self.redis_url),
            "data_dir": self.data_dir,
            **overrides,
        }
        return Settings(**values)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess of the service that uses these servers."""
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            DATA_DIR=str(self.data_dir),
        )
        env.update(extra)
        return env


def _stop_embedded(handles: list[Any]) -> None:
    """Stop embedded servers this process started (they are not shared with anyone else)."""
    for handle in reversed(handles):
        stop = getattr(handle, "cleanup", None) or getattr(handle, "_cleanup", None)
        if stop is None:
            continue
        try:
            stop()
        except Exception as err:  # a server that is already gone is fine
            print(f"note: stopping {type(handle).__name__} failed: {err}", file=sys.stderr)


@contextmanager
def throwaway_servers(prefix: str = "bench") -> Iterator[Servers]:
    """PostgreSQL (with an empty database) and Redis for one run; all removed afterwards.

    Unset DATABASE_URL / REDIS_URL: embedded servers under a new temporary directory.
    Set DATABASE_URL: a fresh database `<prefix>_<random>` on that server, dropped at the end.
    Set REDIS_URL: that Redis is used as is (callers should remove the keys they create).
    """
    from app import devservers

    base = Settings()
    data_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    handles_before = len(devservers._handles)
    dropped_db: tuple[str, str] | None = None
    try:
        if base.database_url is None:
            db_url = devservers.start_embedded_postgres(data_dir / "postgres")
        else:
            admin_url = base.database_url.get_secret_value()
            name = f"{prefix}_{secrets.token_hex(4)}"
            db_url = asyncio.run(devservers.create_database(admin_url, name))
            dropped_db = (admin_url, name)
        if base.redis_url is None:
            redis_url = devservers.start_embedded_redis(data_dir / "redis")
        else:
            redis_url = base.redis_url.get_secret_value()
        yield Servers(db_url, redis_url, data_dir, embedded_redis=base.redis_url is None)
    finally:
        if dropped_db is not None:
            try:
                asyncio.run(devservers.drop_database(*dropped_db))
            except Exception as err:
                print(f"note: could not drop database {dropped_db[1]}: {err}", file=sys.stderr)
        started = devservers._handles[handles_before:]
        _stop_embedded(started)
        del devservers._handles[handles_before:]
        shutil.rmtree(data_dir, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class ApiProcess:
    """A running `python -m app serve`."""

    base_url: str
    pid: int
    log_path: Path


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"process {proc.pid} ignored SIGTERM for {timeout}s; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()
    return proc.returncode


@contextmanager
def api_process(
    env: Mapping[str, str],
    log_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    ready_timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
) -> Iterator[ApiProcess]:
    """Start the API as a real uvicorn process, wait for /health/ready, stop it on exit."""
    port = port or free_port(host)
    log_path = log_dir / f"api-{port}.log"
    args = [sys.executable, "-m", "app", "serve", "--host", host, "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*args, *extra_args], env=dict(env), cwd=REPO_ROOT, stdout=log, stderr=log
        )
    base_url = f"http://{host}:{port}"
    try:
        wait_ready(base_url, proc, log_path, ready_timeout)
        yield ApiProcess(base_url, proc.pid, log_path)
    except Exception:
        print(f"API log tail:\n{_log_tail(log_path)}", file=sys.stderr)
        raise
    finally:
        code = stop_process(proc)
        if code not in (0, -signal.SIGTERM):
            print(f"API exited with code {code}; log tail:\n{_log_tail(log_path)}", file=sys.stderr)


def wait_ready(
    base_url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    """Poll GET /health/ready until 200; raises RuntimeError if the process dies or times out."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    with httpx.Client(base_url=base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"API exited with code {proc.returncode} before it was ready:\n"
                    + _log_tail(log_path)
                )
            try:
                response = client.get("/health/ready")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:200]}"
            except httpx.TransportError as err:
                last = type(err).__name__
            time.sleep(0.1)
    raise RuntimeError(f"API not ready after {timeout}s ({last}):\n{_log_tail(log_path)}")


async def create_api_key(settings: Settings, name: str, scopes: str) -> str:
    """Create an API key in the configured database; returns the key itself."""
    from app import security
    from app.db import create_engine, create_session_factory
    from app.uow import unit_of_work

    engine = create_engine(settings.server_urls()[0], pool_size=1, max_overflow=0)
    try:
        async with unit_of_work(create_session_factory(engine)) as uow:
            scopes_held = security.parse_scopes(scopes)
            return await security.create_api_key(uow.session, name, scopes_held)
    finally:
        await engine.dispose()


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int, *, with_children: bool = True) -> float | None:
    """User + system CPU seconds used so far by process `pid` and, by default, by its live
    descendants (e.g. uvicorn workers); Linux only, None elsewhere."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    total = int(fields[11]) + int(fields[12])
    if with_children:
        total += sum(int(f[11]) + int(f[12]) for p, f in _family(pid).items() if p != pid)
    return total / _CLOCK_TICKS


def _family(pid: int) -> dict[int, list[str]]:
    """The /proc/<p>/stat fields of `pid` and of its live descendants, by process id."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(entry.name)) is not None:
            stats[int(entry.name)] = fields
    family = {pid}
    changed = True
    while changed:
        found = {p for p, f in stats.items() if int(f[1]) in family} - family
        family |= found
        changed = bool(found)
    return {p: stats[p] for p in family if p in stats}


def process_rss_mb(pid: int, *, with_children: bool = True) -> float | None:
    """Resident memory (VmRSS, MB) of process `pid` and, by default, of its live descendants;
    Linux only, None elsewhere or when `pid` is gone."""
    family = _family(pid)
    if pid not in family:
        return None
    pids = sorted(family) if with_children else [pid]
    total_kb = 0
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total_kb += int(line.split()[1])
                break
    return total_kb / 1024


def host_cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot (Linux; None elsewhere)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    values = [int(v) for v in first[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


@dataclass(slots=True)
class CpuMeter:
    """CPU use over an interval: one process (in cores) and the whole machine (in % of all)."""

    pid: int | None
    _proc_start: float | None = None
    _host_start: tuple[int, int] | None = None
    _wall_start: float = 0.0
    process_cores: float | None = None
    host_busy_pct: float | None = None

    def start(self) -> None:
        self._wall_start = time.perf_counter()
        self._proc_start = process_cpu_seconds(self.pid) if self.pid else None
        self._host_start = host_cpu_ticks()

    def stop(self) -> None:
        wall = max(time.perf_counter() - self._wall_start, 1e-9)
        if self.pid and self._proc_start is not None:
            now = process_cpu_seconds(self.pid)
            if now is not None:
                self.process_cores = (now - self._proc_start) / wall
        host = host_cpu_ticks()
        if host is not None and self._host_start is not None:
            busy = host[0] - self._host_start[0]
            total = host[1] - self._host_start[1]
            self.host_busy_pct = 100.0 * busy / total if total else None
