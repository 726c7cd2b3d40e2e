"""Plans: ordered steps, each SAFE or DESTRUCTIVE with its exact commands, and how `--apply` runs them.

`--apply` runs the SAFE steps that have an action; a DESTRUCTIVE step runs only with `--yes`, and its
backup runs first (a failed backup skips the step). The first failing step stops the run: what was
already changed stays logged and undoable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stackrx.models import CheckMeta, StepKind
from stackrx.remedy import changelog
from stackrx.remedy.actions import Action, ApplyContext, Backup, Change


@dataclass(frozen=True)
class Step:
    kind: StepKind
    text: str
    commands: list[str] = field(default_factory=list)
    action: Action | None = None  # None: a step for the operator to run by hand
    backup: Backup | None = None

    def all_commands(self) -> list[str]:
        return self.action.commands() if self.action is not None else list(self.commands)


@dataclass(frozen=True)
class Plan:
    check_id: str
    title: str
    host: str
    steps: list[Step]
    state: list[str] = field(default_factory=list)  # what the plan was computed from
    notes: list[str] = field(default_factory=list)
    automated: bool = True  # False: the metadata's remediation, print-only

    @property
    def applicable(self) -> bool:
        return self.automated and any(s.action is not None for s in self.steps)


def metadata_plan(meta: CheckMeta, host: str) -> Plan:
    """A check without an automated plan: its catalogue remediation, to follow by hand."""
    steps = [Step(s.kind, s.text, list(s.commands)) for s in meta.remediation]
    return Plan(meta.id, meta.title, host, steps, automated=False,
                notes=[f"`--apply` is not implemented for {meta.id}: follow these steps by hand."])


def render_plan(plan: Plan, root: Path | None) -> str:
    lines = [f"Plan for {plan.check_id} ({plan.title}) on {plan.host}"]
    lines += [f"  {s}" for s in plan.state]
    if root is not None and root != Path("/"):
        lines.append(f"  test root: {root} (every path below is applied under it)")
    lines.append("")
    for i, step in enumerate(plan.steps, 1):
        prefix = f"{i:>2}. [{step.kind.value}] "
        lines.append(textwrap.fill(step.text, 110, initial_indent=prefix, subsequent_indent=" " * len(prefix)))
        if step.backup is not None:
            lines.append(f"      backup first: {step.backup.preview(root or Path('/'))}")
        lines.extend(f"      $ {cmd}" for cmd in step.all_commands())
        if step.action is not None and root is not None:
            lines.append(f"      → {step.action.preview(root)}")
        elif step.action is None and plan.automated:
            lines.append("      → by hand (not run by --apply)")
    if plan.notes:
        lines.append("")
        lines.extend(f"Note: {n}" for n in plan.notes)
    return "\n".join(lines) + "\n"


@dataclass
class ApplyOutcome:
    apply_id: str
    changes: list[Change] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)
    failed: tuple[int, str] | None = None


@dataclass
class _Cursor:
    step: int = 0
    kind: str = ""


def apply_plan(plan: Plan, *, root: Path, yes: bool, echo: Callable[[str], None],
               apply_id: str | None = None) -> ApplyOutcome:
    apply_id = apply_id or changelog.new_apply_id()
    out = ApplyOutcome(apply_id)
    cursor = _Cursor()

    def record(change: Change) -> None:
        changelog.record(change, apply_id=apply_id, check_id=plan.check_id, host=plan.host, step=cursor.step,
                         kind=cursor.kind, root=root)
        out.changes.append(change)

    ctx = ApplyContext(root=root, apply_id=apply_id, backup_dir=changelog.backup_root() / apply_id,
                       record=record)
    for i, step in enumerate(plan.steps, 1):
        cursor.step, cursor.kind = i, step.kind.value
        if step.action is None:
            out.skipped.append((i, "by hand"))
            continue
        if step.kind is StepKind.destructive and not yes:
            out.skipped.append((i, "DESTRUCTIVE: needs --yes"))
            echo(f"step {i}: skipped (DESTRUCTIVE, add --yes to run it after its backup)")
            continue
        if not step.action.pending(root):
            out.already.append(i)
            echo(f"step {i}: nothing to do ({step.action.preview(root)})")
            continue
        try:
            if step.backup is not None:
                step.backup.apply(ctx)
                echo(f"step {i}: backup saved under {ctx.backup_dir}")
            preview = step.action.preview(root)
            step.action.apply(ctx)
        except (OSError, ValueError) as exc:
            out.failed = (i, str(exc))
            echo(f"step {i}: FAILED: {exc}; stopping (changes so far are logged: "
                 f"stackrx fix --undo {apply_id})")
            break
        out.applied.append(i)
        echo(f"step {i}: done ({preview})")
    return out
