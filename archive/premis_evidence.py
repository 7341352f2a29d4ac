"""What PREMIS says a tool found: the evidence behind DA/T 70 items 3-3 (PDF/A validation) and 4-2 (virus check).

A claim is not evidence. A PDF/A file counts as validated only when a PREMIS ``validation`` event
links it and names veraPDF, with its version, as a software agent; a submitted file counts as
scanned only when a ``virus check`` event links it and names ClamAV (a station's own event saying
it scanned, whose agent is not the archive's software, does not count). The events come from ingest (the
``formats`` work: veraPDF per PDF/A file, ClamAV per submitted file); an AIP without them has no
evidence, and the item fails saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from archive.premis import P

PASSING = {"pass", "passed", "success", "clean", "valid"}


@dataclass(frozen=True)
class ToolEvent:
    """One PREMIS event with its agents resolved to (name, version)."""

    type: str
    outcome: str
    detail: str
    objects: frozenset[str]
    agents: tuple[tuple[str, str, str], ...]  # (name, version, type)

    def is_by(self, tool: str) -> bool:
        """A software agent named ``tool``: a station's own note that it scanned is not the archive's evidence."""
        return any(tool.lower() in name.lower() and kind == "software" for name, _, kind in self.agents)

    def tool_label(self, tool: str) -> str:
        return next((f"{name} {version}".strip() for name, version, kind in self.agents
                     if tool.lower() in name.lower() and kind == "software"), "")

    @property
    def passed(self) -> bool:
        return self.outcome.strip().lower() in PASSING


def tool_events(tree: etree._ElementTree, event_type: str) -> list[ToolEvent]:
    """Every event of ``event_type`` in a PREMIS document, agents resolved by identifier."""
    root = tree.getroot()
    agents = {a.findtext(f"{P}agentIdentifier/{P}agentIdentifierValue") or "":
              (a.findtext(P + "agentName") or "", a.findtext(P + "agentVersion") or "", a.findtext(P + "agentType") or "")
              for a in root.iter(P + "agent")}
    out = []
    for e in root.iter(P + "event"):
        if (e.findtext(P + "eventType") or "").strip().lower() != event_type:
            continue
        linked = [link.findtext(P + "linkingAgentIdentifierValue") or "" for link in e.findall(P + "linkingAgentIdentifier")]
        out.append(ToolEvent(
            type=event_type, outcome=e.findtext(f"{P}eventOutcomeInformation/{P}eventOutcome") or "",
            detail=e.findtext(f"{P}eventOutcomeInformation/{P}eventOutcomeDetail/{P}eventOutcomeDetailNote") or "",
            objects=frozenset(link.findtext(P + "linkingObjectIdentifierValue") or ""
                              for link in e.findall(P + "linkingObjectIdentifier")),
            agents=tuple(agents.get(a, (a, "", "")) for a in linked)))
    return out


def evidence_for(tree: etree._ElementTree, event_type: str, tool: str,
                 objects: dict[str, str]) -> tuple[list[str], list[str]]:
    """(problems, evidence) for ``objects`` (PREMIS object id -> file path): each needs an event of
    ``event_type`` by ``tool``; the newest such event per object decides its outcome."""
    events = [e for e in tool_events(tree, event_type) if e.is_by(tool)]
    problems, evidence = [], []
    for object_id, path in objects.items():
        mine = [e for e in events if object_id in e.objects]
        if not mine:
            problems.append(f"{path}: no evidence (no PREMIS {event_type} event by {tool})")
            continue
        last = mine[-1]
        label = last.tool_label(tool)
        if not any(c.isdigit() for c in label):
            problems.append(f"{path}: PREMIS {event_type} event names {label or tool} without a version")
        elif not last.passed:
            problems.append(f"{path}: {label} outcome {last.outcome} {last.detail}".strip())
        else:
            evidence.append(f"{path}: {label} {last.outcome}")
    return problems, evidence
