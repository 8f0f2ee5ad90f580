"""The README's quick start, run literally, in order, against a started stack.

The stack is `python -m app run` (what `make run` runs) on free ports with a temporary
DATA_DIR. The quick start's ```sh blocks run in one bash session (so `OPS`, `KEY`, `R` and
`post` carry over from block to block), with the default URLs of `make run` replaced by the
free ports; nothing else is changed. What cannot run as written is marked in the README's
source with an HTML comment `<!-- readme-test: NAME. why -->`:

- `not run` before a block: the block is skipped (`make run` / `make test`);
- `browser`: the test does what the person does in a browser (consent page, Approve).

Each `# -> ` line under a command is the output it must print, one line each, compared
with whitespace removed and `...` standing for anything. A command whose code says "run it
again" is repeated until its output matches.
"""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from app.config import Settings
from tests.support.helpers import free_port, spawn_app, stack_env, wait_ready

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# What the README's commands name; `make run` serves there unless PORT / EMULATOR_PORT say not.
API_URL = f"http://127.0.0.1:{Settings.model_fields['port'].default}"
EMULATOR_URL = f"http://127.0.0.1:{Settings.model_fields['emulator_port'].default}"
ITEM = re.compile(r"<!-- readme-test: (?P<marker>[^.]+)\..*?-->|```sh\n(?P<code>.*?)```", re.S)
MARKERS = {"not run", "browser"}
STEP_TIMEOUT_S = 60
RETRY_FOR_S = 60


@dataclass
class Step:
    """Commands and the lines (`# -> `) they must print."""

    code: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)


def quick_start() -> str:
    text = README.read_text()
    start = text.index("\n## Quick start\n")
    return text[start : text.index("\n## ", start + 1)]


def steps_of(block: str) -> list[Step]:
    steps, step = [], Step()
    for line in block.splitlines():
        if line.startswith("# -> "):
            step.expected.append(line.removeprefix("# -> "))
        elif step.expected and re.match(r"#\s{2,}", line):
            step.expected[-1] += " " + line[1:].strip()
        else:
            if step.expected:
                steps.append(step)
                step = Step()
            step.code.append(line)
    if step.code or step.expected:
        steps.append(step)
    return steps


def matches(pattern: str, line: str) -> bool:
    """`line` is what `pattern` shows, whitespace aside, `...` standing for anything."""
    parts = ["".join(part.split()) for part in pattern.split("...")]
    return re.fullmatch(".*".join(map(re.escape, parts)), "".join(line.split())) is not None


class Shell:
    """One bash session fed through its stdin; each step ends with a sentinel line."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def run(self, code: str) -> tuple[int, list[str]]:
        """Exit status of the last command and the non-empty lines printed."""
        assert self.proc.stdin is not None
        # curl prints no newline after a body: the sentinel goes on a line of its own.
        self.proc.stdin.write(f"{code}\nprintf '\\n__step_done__ %s\\n' $?\n")
        self.proc.stdin.flush()
        out: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=STEP_TIMEOUT_S).rstrip("\n")
            except queue.Empty:
                self.log.flush()
                errors = Path(self.log.name).read_text()[-2000:]
                raise AssertionError(
                    f"{code}\nstill running after {STEP_TIMEOUT_S} s; "
                    f"printed {out}; stderr:\n{errors}"
                ) from None
            if line.startswith("__step_done__ "):
                return int(line.split()[1]), [x for x in out if x.strip()]
            out.append(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        self.proc.stdout.close()
        self.log.close()


class ConsentForm(HTMLParser):
    """The fields a browser would submit from the emulator's consent page."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = a["action"]
        elif tag == "input" and a.get("type", "text") in {"hidden", "text"}:
            self.fields[a["name"]] = a.get("value", "")


def approve_in_browser(authorization_url: str, api: str) -> str:
    """Open the consent page, pick "Create a new company", press Approve, follow the
    redirect to the API's callback; returns the page the person then sees."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(authorization_url)
        assert page.status_code == 200, page.text
        form = ConsentForm()
        form.feed(page.text)
        assert "Create a new company" in page.text
        data = {**form.fields, "realm_id": "new", "country": "US", "action": "approve"}
        decision = browser.post(urljoin(authorization_url, form.action), data=data)
        assert decision.status_code == 302, decision.text
        callback = browser.get(decision.headers["location"])
        assert decision.headers["location"].startswith(f"{api}/connections/callback")
        assert callback.status_code == 200, callback.text
        return callback.text


def test_the_quick_start_parses_into_known_markers_and_checked_commands() -> None:
    items = list(ITEM.finditer(quick_start()))
    markers = [m["marker"] for m in items if m["marker"]]
    assert set(markers) <= MARKERS, f"unknown readme-test markers: {set(markers) - MARKERS}"
    assert "browser" in markers
    blocks = [m["code"] for m in items if m["code"] is not None]
    assert len(blocks) == quick_start().count("```sh"), "every sh block is run or marked"
    checked = [s for b in blocks for s in steps_of(b) if s.expected]
    assert len(checked) >= 8
    assert matches('{"id": "...", "status": "pending"} 202', '{"id":"e1","status":"pending"} 202')
    assert not matches('{"status": "synced"}', '{"status":"pending"}')
    assert steps_of("a\n# -> x\n#      y\nb\n") == [Step(["a"], ["x y"]), Step(["b"], [])]


@pytest.mark.slow
def test_the_quick_start_runs_as_written(tmp_path: Path) -> None:
    port, emulator_port = free_port(), free_port()
    api, emulator = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    env = stack_env(tmp_path / "data", port, emulator_port)

    def local(text: str) -> str:
        return text.replace(API_URL, api).replace(EMULATOR_URL, emulator)

    stack_log = tmp_path / "stack.log"
    stack = spawn_app("run", env=env, log=stack_log)
    shell = Shell(env, tmp_path / "shell-stderr.log")
    try:
        wait_ready(f"{api}/health/ready", stack, log=stack_log)
        wait_ready(f"{emulator}/", stack, log=stack_log)
        printed: list[str] = []
        skip_next = False
        for item in ITEM.finditer(quick_start()):
            if item["marker"] == "not run":
                skip_next = True
            elif item["marker"] == "browser":
                started = next(line for line in reversed(printed) if "authorization_url" in line)
                page = approve_in_browser(json.loads(started)["authorization_url"], api)
                assert "Connected to Sandbox Company" in page
            elif skip_next:
                skip_next = False
            else:
                for step in steps_of(item["code"]):
                    printed += run_step(shell, step, local, tmp_path)
        # What the walk-through leaves: one company, connected, up to date; nothing failing.
        _, (values,) = shell.run('echo "$OPS $R"')
        ops, realm = values.split()
        report = httpx.get(f"{api}/sync-status", headers={"Authorization": f"Bearer {ops}"})
        assert report.json()["verdict"] == "ok", report.text
        assert [r["realm_id"] for r in report.json()["realms"]] == [realm]
        invoices = httpx.get(f"{emulator}/admin/companies/{realm}/invoices").json()
        # The paid invoice, and the taxed and discounted one, 100.00 of it paid by credit.
        assert [(i["TotalAmt"], i["Balance"]) for i in invoices] == [(360.0, 0), (355.05, 255.05)]
        books = httpx.get(f"{emulator}/admin/companies/{realm}/books").json()
        assert books == {"consistent": True, "problems": []}
    finally:
        shell.close()
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=60)
    assert stack.returncode == 0, stack_log.read_text()[-4000:]


def run_step(shell: Shell, step: Step, local: Callable[[str], str], tmp_path: Path) -> list[str]:
    """Run one step (again while its code says "run it again"); returns what it printed."""
    code = local("\n".join(step.code))
    expected = [local(e) for e in step.expected]
    deadline = time.monotonic() + (RETRY_FOR_S if "run it again" in code else 0)
    while True:
        status, lines = shell.run(code)
        ok = status == 0 and (
            not expected or (len(lines) == len(expected) and all(map(matches, expected, lines)))
        )
        if ok or time.monotonic() >= deadline:
            break
        time.sleep(1)
    errors = (tmp_path / "shell-stderr.log").read_text()[-2000:]
    assert status == 0, f"{code}\nexited {status}; stderr:\n{errors}"
    assert ok, f"{code}\nprinted:\n" + "\n".join(lines) + "\nREADME shows:\n" + "\n".join(expected)
    return lines
