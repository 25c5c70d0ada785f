"""Recorder for the reliability suite: every test says which fault class it exercises, how, and
counts the cases it tried; the outcome of the test is attached after it ran.

Tests take the ``fault_log`` fixture::

    def test_x(fault_log):
        fault_log.describe("CLI abuse: output equal to input", "recon with --output = --input")
        fault_log.case("refused")  # once per case tried, with the outcome of that case

At the end of the session the records are written as JSON to ``$DISCOFOLD_RELIABILITY_LOG`` when
set, else to ``reliability.json`` in pytest's base temporary folder.
``benchmarks/reliability_report.py`` renders them as ``docs/reliability.md``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

import pytest

_LOG_KEY = pytest.StashKey["FaultLog"]()
_RECORDS = pytest.StashKey[list]()
_BASETEMP = pytest.StashKey[Path]()


class FaultLog:
    """What one test did: fault class, method, cases tried and their outcomes."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.fault = ""
        self.how = ""
        self.cases = 0
        self.outcomes: Counter[str] = Counter()
        self.measured: dict[str, object] = {}

    def describe(self, fault: str, how: str) -> None:
        """Name the fault class (``"area: fault"``) and say how it is provoked and checked."""
        self.fault, self.how = fault, how

    def case(self, outcome: str) -> None:
        """Count one case tried, with its outcome (``"FormatError"``, ``"accepted"``, …)."""
        self.cases += 1
        self.outcomes[outcome] += 1

    def measure(self, name: str, value) -> None:
        """Record a measured figure (e.g. peak RSS) shown next to the fault in the report."""
        self.measured[name] = value

    def as_dict(self) -> dict:
        return {"nodeid": self.nodeid, "fault": self.fault, "how": self.how,
                "cases": self.cases, "outcomes": dict(sorted(self.outcomes.items())),
                "measured": self.measured}


@pytest.fixture
def fault_log(request) -> FaultLog:
    """The :class:`FaultLog` of the running test (recorded after the test ends)."""
    log = FaultLog(request.node.nodeid)
    request.node.stash[_LOG_KEY] = log
    return log


@pytest.fixture(autouse=True, scope="session")
def _reliability_basetemp(request, tmp_path_factory):
    request.config.stash[_BASETEMP] = tmp_path_factory.getbasetemp()


def pytest_configure(config) -> None:
    config.stash[_RECORDS] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    log = item.stash.get(_LOG_KEY, None)
    if log is None or not log.fault:
        return
    failed_setup = rep.when == "setup" and not rep.passed
    if rep.when == "call" or failed_setup:
        record = log.as_dict()
        record.update(outcome=rep.outcome, duration_s=round(rep.duration, 3),
                      markers=sorted(m.name for m in item.iter_markers()
                                     if m.name in ("slow", "skipif")))
        if rep.skipped and isinstance(rep.longrepr, tuple):
            record["skip_reason"] = str(rep.longrepr[2])
        item.config.stash[_RECORDS].append(record)


def pytest_sessionfinish(session, exitstatus) -> None:
    records = session.config.stash.get(_RECORDS, [])
    if not records:
        return
    target = os.environ.get("DISCOFOLD_RELIABILITY_LOG")
    if target:
        path = Path(target)
    elif _BASETEMP in session.config.stash:
        path = session.config.stash[_BASETEMP] / "reliability.json"
    else:
        return
    doc = {"created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "python": platform.python_version(),
           "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
           "euid": os.geteuid() if hasattr(os, "geteuid") else None,
           "exitstatus": int(exitstatus), "records": records}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
