"""What the figures were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from sqlalchemy import Engine, text

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head} (working tree modified)" if dirty else head


def database_description(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL)"
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar()
    return f"PostgreSQL {version} via {engine.dialect.driver} {_version('psycopg')}"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def describe(engine: Engine) -> list[str]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        f"CPU          {cpu_model()}",
        f"cores        {os.cpu_count()} logical ({affinity} usable by this process)",
        f"OS           {platform.platform()}",
        f"Python       {platform.python_implementation()} {sys.version.split()[0]}",
        f"SQLite       {sqlite3.sqlite_version}",
        f"DB backend   {database_description(engine)}",
        f"libraries    SpiffWorkflow {_version('SpiffWorkflow')}, "
        f"SQLAlchemy {_version('SQLAlchemy')}, Flask {_version('Flask')}, "
        f"waitress {_version('waitress')}",
        f"code         git {_git_revision()}",
        f"load avg     {load_average()} at start; other processes share these cores",
    ]
