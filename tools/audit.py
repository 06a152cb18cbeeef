"""Audit the pinned dependencies (requirements.lock) for known vulnerabilities with pip-audit.

    python -m tools.audit [--json bench/out/audit.json]

pip-audit asks a vulnerability service about each pinned version: PyPI's JSON API (the default)
and then OSV (api.osv.dev) when PyPI cannot answer. The report says plainly which packages were
audited and which could not be (no network, service unreachable): a package that could not be
audited is *not* reported as safe.

Exit status: 0 every package audited and no vulnerability left unexplained; 1 an unexplained
vulnerability; 2 the audit is incomplete (some packages could not be audited). A vulnerability
that does not apply to this project is explained in ``EXPLAINED`` (id -> why) and then no longer
fails the audit.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
SERVICES = ("pypi", "osv")
TIMEOUT_SECONDS = 300

# Vulnerability id (PYSEC-…, GHSA-…, CVE-…) -> why it does not affect imdbrec. Empty: none known.
EXPLAINED: dict[str, str] = {}


def _pip_audit() -> list[str]:
    executable = Path(sys.executable).parent / "pip-audit"
    if executable.exists():
        return [str(executable)]
    if shutil.which("pip-audit"):
        return ["pip-audit"]
    return [sys.executable, "-m", "pip_audit"]


def audit_with(service: str, requirements: Path) -> dict:
    """One pip-audit run against ``service``: {"service", "dependencies": [...], "error"}."""
    command = [
        *_pip_audit(),
        "-r",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
        "--vulnerability-service",
        service,
        "--timeout",
        "15",
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except FileNotFoundError:
        return {"service": service, "dependencies": [], "error": "pip-audit is not installed (requirements-dev.txt)"}
    except subprocess.TimeoutExpired:
        return {"service": service, "dependencies": [], "error": f"no answer within {TIMEOUT_SECONDS} s"}
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"service": service, "dependencies": [], "error": last[:300]}
    return {"service": service, "dependencies": report.get("dependencies", []), "error": ""}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def audit(requirements: Path = LOCK) -> dict:
    """Audit with PyPI, then OSV for what PyPI could not answer; merge per package."""
    pinned = [
        _canonical(line.split("==")[0].strip())
        for line in requirements.read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    ]
    packages: dict[str, dict] = {
        name: {"name": name, "audited_by": None, "vulns": [], "skip_reason": ""} for name in pinned
    }
    runs = []
    for service in SERVICES:
        pending = [name for name, package in packages.items() if package["audited_by"] is None]
        if not pending:
            break
        run = audit_with(service, requirements)
        answered, skips = 0, set()
        for dependency in run["dependencies"]:
            name = _canonical(dependency["name"])
            package = packages.setdefault(name, {"name": name, "audited_by": None, "vulns": [], "skip_reason": ""})
            if package["audited_by"] is not None:
                continue
            if dependency.get("skip_reason"):
                package["skip_reason"] = f"{service}: {dependency['skip_reason']}"
                skips.add(dependency["skip_reason"].split(":")[0])
            else:
                package["audited_by"] = service
                package["vulns"] = dependency.get("vulns", [])
                answered += 1
        runs.append({"service": service, "audited": answered, "error": run["error"] or "; ".join(sorted(skips))})
        if run["error"]:
            for name in pending:
                packages[name]["skip_reason"] = packages[name]["skip_reason"] or f"{service}: {run['error']}"
    audited = [package for package in packages.values() if package["audited_by"]]
    unaudited = [package for package in packages.values() if not package["audited_by"]]
    vulnerabilities = [
        {
            "package": package["name"],
            "id": vuln["id"],
            "fix_versions": vuln.get("fix_versions", []),
            "explained": EXPLAINED.get(vuln["id"], ""),
        }
        for package in audited
        for vuln in package["vulns"]
    ]
    unexplained = [vuln for vuln in vulnerabilities if not vuln["explained"]]
    status = "vulnerable" if unexplained else "incomplete" if unaudited else "clean"
    return {
        "status": status,
        "packages": len(packages),
        "audited": len(audited),
        "unaudited": len(unaudited),
        "unaudited_reasons": sorted({package["skip_reason"][:200] for package in unaudited})[:5],
        "vulnerabilities": vulnerabilities,
        "unexplained": len(unexplained),
        "services": runs,
        "explained": EXPLAINED,
    }


def summary_line(report: dict) -> str:
    if report["status"] == "clean":
        return f"{report['audited']} of {report['packages']} pinned packages audited: no known vulnerability" + (
            f" ({len(report['vulnerabilities'])} explained)" if report["vulnerabilities"] else ""
        )
    if report["status"] == "vulnerable":
        ids = ", ".join(
            f"{vuln['package']} {vuln['id']}" for vuln in report["vulnerabilities"] if not vuln["explained"]
        )
        return f"{report['unexplained']} unexplained known vulnerabilities: {ids}"
    services = "; ".join(
        f"{run['service']}: {run['audited']} audited" + (f" ({run['error'][:160]})" if run["error"] else "")
        for run in report["services"]
    )
    return (
        f"INCOMPLETE: {report['unaudited']} of {report['packages']} pinned packages could not be audited "
        f"(vulnerability services unreachable from this machine — {services}); "
        f"{report['audited']} audited, {report['unexplained']} unexplained vulnerabilities among them"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Audit requirements.lock with pip-audit (PyPI, then OSV).")
    parser.add_argument("--json", help="write the full report here")
    parser.add_argument("--requirements", default=str(LOCK))
    args = parser.parse_args()
    report = audit(Path(args.requirements))
    print(summary_line(report))
    for vuln in report["vulnerabilities"]:
        note = (
            f"explained: {vuln['explained']}" if vuln["explained"] else f"fix: {', '.join(vuln['fix_versions']) or '?'}"
        )
        print(f"  {vuln['package']} {vuln['id']} ({note})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return {"clean": 0, "vulnerable": 1, "incomplete": 2}[report["status"]]


if __name__ == "__main__":
    raise SystemExit(main())
