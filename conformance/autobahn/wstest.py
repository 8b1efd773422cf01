"""The Autobahn TestSuite's fuzzing client (`wstest -m fuzzingclient`), in a Python 2.7 environment
this module builds and caches.

wstest runs only on Python 2.7 (Twisted 19 and autobahn 0.10). We take the interpreter from pyenv
(or ``$TAPSTER_PYTHON27``) and install the pinned packages of ``requirements-py27.txt`` into a plain
folder with ``pip install --target``: no virtualenv is needed, and the folder is added with
``site.addsitedir`` (which runs the ``.pth`` file zope.interface's namespace package needs). The
folder lives in ``.autobahn/`` at the repository root (ignored by git, ``$TAPSTER_AUTOBAHN_HOME``
to move it) and is rebuilt only when the pins or the interpreter change.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["AutobahnUnavailable", "Wstest", "autobahn_home", "ensure_wstest", "find_python27", "write_spec"]

_HERE = Path(__file__).resolve().parent
REPO = _HERE.parents[1]
REQUIREMENTS = _HERE / "requirements-py27.txt"

# How to start wstest from the folder: addsitedir (not PYTHONPATH) so that .pth files run.
_LAUNCH = (
    "import site, sys; site.addsitedir(sys.argv.pop(1)); sys.argv[0] = 'wstest'; "
    "from autobahntestsuite.wstest import run; run()"
)

_NO_PYTHON27 = """\
The Autobahn TestSuite (wstest) needs Python 2.7, and none was found.
Looked for: $TAPSTER_PYTHON27, {pyenv_roots} (versions/2.7*/bin/python2.7), python2.7 on PATH.
Install it with pyenv (https://github.com/pyenv/pyenv):
    pyenv install 2.7.18        # builds from source: apt-get install build-essential libssl-dev zlib1g-dev
                                # libbz2-dev libreadline-dev libsqlite3-dev libffi-dev
or point TAPSTER_PYTHON27 at any Python 2.7 interpreter that has pip."""


class AutobahnUnavailable(RuntimeError):
    """wstest cannot be set up here; the message says what to install."""


@dataclass(frozen=True, slots=True)
class Wstest:
    """A ready wstest: the Python 2.7 interpreter and the folder holding the testsuite."""

    python: Path
    site: Path

    def command(self, *args: str) -> list[str]:
        # -E: no PYTHONPATH/PYTHONHOME of the Python 3 environment; -s: no user site-packages.
        return [str(self.python), "-E", "-s", "-c", _LAUNCH, str(self.site), *args]

    def run_fuzzingclient(
        self, spec: Path, *, cwd: Path, log: Path, timeout: float | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run `wstest -m fuzzingclient -s spec` in `cwd`, its output to `log`."""
        with open(log, "wb") as out:
            return subprocess.run(
                self.command("--mode", "fuzzingclient", "--spec", str(spec)),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )


def autobahn_home() -> Path:
    return Path(os.environ.get("TAPSTER_AUTOBAHN_HOME") or REPO / ".autobahn")


def _pyenv_roots() -> list[Path]:
    roots = [Path(os.environ["PYENV_ROOT"])] if os.environ.get("PYENV_ROOT") else []
    roots += [Path.home() / ".pyenv", Path("/root/.pyenv")]
    return list(dict.fromkeys(roots))


def find_python27() -> Path:
    """A Python 2.7 interpreter: $TAPSTER_PYTHON27, else pyenv's newest 2.7, else python2.7 on PATH."""
    explicit = os.environ.get("TAPSTER_PYTHON27")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise AutobahnUnavailable(f"TAPSTER_PYTHON27={explicit} is not an executable")
        return Path(explicit)
    candidates: list[Path] = []
    for root in _pyenv_roots():
        found = sorted(
            (root / "versions").glob("2.7*/bin/python2.7"),
            key=lambda p: [int(n) if n.isdigit() else 0 for n in p.parts[-3].split(".")],
        )
        candidates += reversed(found)
    on_path = shutil.which("python2.7")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return candidate
    roots = ", ".join(str(root) for root in _pyenv_roots())
    raise AutobahnUnavailable(_NO_PYTHON27.format(pyenv_roots=roots))


def _fingerprint(python: Path) -> str:
    """What the cached folder was built from: the pins and the interpreter's identity."""
    version = subprocess.run(
        [str(python), "-E", "-s", "-c", "import sys; print(sys.version)"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.strip()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return json.dumps({"python": str(python), "version": version, "requirements": digest}, sort_keys=True)


def _install(python: Path, target: Path, log: Path) -> None:
    if subprocess.run([str(python), "-E", "-s", "-m", "pip", "--version"], capture_output=True).returncode:
        raise AutobahnUnavailable(
            f"{python} has no pip: run `{python} -m ensurepip` (pyenv's 2.7.18 ships pip 19.2.3)"
        )
    if not (shutil.which("cc") or shutil.which("gcc")):
        raise AutobahnUnavailable(
            "building wstest's wsaccel and Twisted needs a C compiler: apt-get install gcc"
        )
    command = [
        str(python),
        "-E",
        "-s",
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--no-deps",
        "--target",
        str(target),
        "-r",
        str(REQUIREMENTS),
    ]
    with open(log, "wb") as out:
        done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        raise AutobahnUnavailable(
            f"installing the Autobahn TestSuite for Python 2.7 failed (pip exit {done.returncode}); "
            f"the end of {log}:\n" + "\n".join(tail)
        )


def ensure_wstest(home: Path | None = None, *, quiet: bool = False) -> Wstest:
    """wstest, installed into `home`/py27 unless that folder was already built from the same pins and
    interpreter. Safe to call from several processes at once (a lock file serializes the build)."""
    home = home or autobahn_home()
    python = find_python27()
    home.mkdir(parents=True, exist_ok=True)
    site = home / "py27"
    stamp = site / ".tapster-installed"
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fingerprint = _fingerprint(python)
        if stamp.is_file() and stamp.read_text() == fingerprint:
            return Wstest(python, site)
        if not quiet:
            print(f"autobahn: installing the Autobahn TestSuite for {python} into {site}", file=sys.stderr)
        building = home / "py27.building"
        shutil.rmtree(building, ignore_errors=True)
        _install(python, building, home / "install.log")
        (building / ".tapster-installed").write_text(fingerprint)
        shutil.rmtree(site, ignore_errors=True)
        building.rename(site)
    wstest = Wstest(python, site)
    check = subprocess.run(wstest.command("--help"), capture_output=True, text=True)
    if check.returncode:
        raise AutobahnUnavailable(f"wstest does not start:\n{check.stderr[-3000:]}")
    return wstest


def write_spec(
    path: Path, *, url: str, agent: str, outdir: Path, cases: Sequence[str], exclude: Sequence[str] = ()
) -> None:
    """The fuzzingclient spec: every case in `cases` (wstest's globs, "9.*"), minus `exclude`."""
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": agent, "url": url}],
        "cases": list(cases),
        "exclude-cases": list(exclude),
        "exclude-agent-cases": {},
    }
    path.write_text(json.dumps(spec, indent=2) + "\n")
