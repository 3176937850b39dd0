"""Conformance results as a terminal table, JUnit XML and a Markdown report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gateway.conformance.runner import CaseResult

STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow"}


def summary(results: list[CaseResult]) -> str:
    counts = Counter(result.verdict for result in results)
    # "N passed, N failed, N skipped": the plain closing line CI reads; errors count as failed.
    return (
        f"{counts['pass']} passed, {counts['fail'] + counts['error']} failed, "
        f"{counts['skip']} skipped" + (f" ({counts['error']} errors)" if counts["error"] else "")
    )


def print_table(results: list[CaseResult], console: Console) -> None:
    table = Table(title="Conformance run", show_lines=False)
    table.add_column("case")
    table.add_column("verdict")
    table.add_column("first difference", overflow="fold")
    for result in results:
        verdict = f"[{STYLE[result.verdict]}]{result.verdict}[/]"
        table.add_row(result.id, verdict, result.difference or "")
    console.print(table)


def write_junit(results: list[CaseResult], path: Path) -> None:
    suites = ET.Element("testsuites", name="gateway-conformance")
    by_suite: dict[str, list[CaseResult]] = {}
    for result in results:
        by_suite.setdefault(result.suite, []).append(result)
    for name, members in by_suite.items():
        failures = sum(r.verdict == "fail" for r in members)
        errors = sum(r.verdict == "error" for r in members)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=name,
            tests=str(len(members)),
            failures=str(failures),
            errors=str(errors),
            time=f"{sum(r.seconds for r in members):.3f}",
        )
        for result in members:
            testcase = ET.SubElement(
                suite,
                "testcase",
                classname=f"conformance.{name}",
                name=result.name,
                time=f"{result.seconds:.3f}",
            )
            if result.verdict == "skip":
                ET.SubElement(testcase, "skipped", message=result.difference or "")
            elif result.verdict in ("fail", "error"):
                tag = "failure" if result.verdict == "fail" else "error"
                element = ET.SubElement(testcase, tag, message=result.difference or "")
                element.text = result.description
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def _what_came_back(observed: dict[str, Any], notified_before: int = 0) -> str:
    """The review actions a step saw, so a report says what the gateway answered and not only
    that it matched: refusals and rejections, then per item of the answer, of an $inquire's
    first response, and of a subscription notification that arrived during the step (after
    the `notified_before` earlier ones) carrying a response."""
    said = []
    if observed.get("kind") == "OperationOutcome":
        said.append(f"OperationOutcome {observed.get('http_status')}")
    if observed.get("errors"):
        said.append("ClaimResponse.error " + ", ".join(str(e) for e in observed["errors"]))
    for aaa in observed.get("aaa") or []:
        said.append(f"AAA {aaa.get('code')} at {aaa.get('loop')}")
    if observed.get("items"):
        said.append("review actions " + ", ".join(str(a) for a in observed["items"]))
    responses = [r for r in observed.get("responses") or [] if isinstance(r, dict)]
    if responses and responses[0].get("items"):
        said.append("inquiry answers " + ", ".join(str(a) for a in responses[0]["items"]))
    arrived = (observed.get("notifications") or [])[notified_before:]
    events = [n for n in arrived if n.get("items")]
    if events:
        said.append("notification carries " + ", ".join(str(a) for a in events[-1]["items"]))
    return "; " + "; ".join(said) if said else ""


def write_markdown(results: list[CaseResult], path: Path) -> None:
    lines = [
        "# Conformance report",
        "",
        summary(results),
        "",
        "| case | verdict | description | first difference |",
        "|---|---|---|---|",
    ]
    for result in results:
        difference = (result.difference or "").replace("|", "\\|")
        lines.append(f"| {result.id} | {result.verdict} | {result.description} | {difference} |")
    lines.append("")
    for result in results:
        lines.append(f"## {result.id}")
        lines.append("")
        notified = 0
        for step in result.steps:
            mark = "ok" if not step.difference else f"differs: {step.difference}"
            lines.append(f"- {step.name}: {mark}{_what_came_back(step.observed, notified)}")
            notified = len(step.observed.get("notifications") or [])
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
