"""Semantic-version constraints as ``images-by-semver`` writes them (the
Masterminds/semver syntax: ``>= 1.2``, ``~1.2.3``, ``^1.2``, ``1.2.x``,
``1.0 - 2.0``, ``,``/space for AND, ``||`` for OR).  Versions are parsed with the
``semver`` package, allowing a ``v`` prefix and missing minor/patch parts."""

from __future__ import annotations

import re

import semver as _semver

from .errors import SkopeoError

Version = _semver.Version


def parse_version(text: str) -> Version | None:
    """A tag as a version, or None when it is not one."""
    candidate = text[1:] if text[:1] in "vV" else text
    try:
        return Version.parse(candidate, optional_minor_and_patch=True)
    except ValueError:
        return None


_WILDCARDS = {"x", "X", "*"}
_TERM_RE = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>|~|\^)?\s*v?([0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)\s*$")


def _bounds(op: str, text: str) -> list[tuple[str, Version]]:
    """Translate one term into (comparator, version) pairs that must all hold."""
    core, _, pre = text.partition("-")
    parts = core.split(".")
    wild = next((i for i, p in enumerate(parts) if p in _WILDCARDS), None)
    nums = [int(p) for p in parts[: wild if wild is not None else len(parts)]]
    given = len(nums)
    while len(nums) < 3:
        nums.append(0)
    base = Version(nums[0], nums[1], nums[2], prerelease=pre or None)
    # Like Masterminds, only an explicit x/X/* is a wildcard; missing parts are zeros.
    wildcard = wild is not None
    if op in ("", "="):
        if not wildcard:
            return [("==", base)]
        if given == 0:
            return [(">=", Version(0, 0, 0))]
        upper = base.bump_major() if given == 1 else base.bump_minor()
        return [(">=", base), ("<", upper)]
    if op == "!=":
        return [("!=", base)]
    if op in (">", "<=") and wildcard and given > 0:
        upper = base.bump_major() if given == 1 else base.bump_minor()
        return [(">=", upper)] if op == ">" else [("<", upper)]
    if op in (">", ">=", "<", "<="):
        return [(op, base)]
    if op in ("~", "~>"):
        upper = base.bump_major() if given == 1 else base.bump_minor()
        return [(">=", base), ("<", upper)]
    if op == "^":
        if base.major > 0 or given == 1:
            upper = base.bump_major()
        elif base.minor > 0 or given == 2:
            upper = base.bump_minor()
        else:
            upper = base.bump_patch()
        return [(">=", base), ("<", upper)]
    raise SkopeoError(f"improper constraint: {op}{text}")


class Constraint:
    def __init__(self, text: str) -> None:
        self.text = text
        self.alternatives: list[list[tuple[str, Version]]] = []
        for alt in text.split("||"):
            checks: list[tuple[str, Version]] = []
            alt = alt.strip()
            hyphen = re.match(r"^\s*(\S+)\s+-\s+(\S+)\s*$", alt)
            if hyphen:
                checks += _bounds(">=", hyphen.group(1).lstrip("v"))
                checks += _bounds("<=", hyphen.group(2).lstrip("v"))
            else:
                # Operators may be separated from versions by spaces; terms by commas or spaces.
                normalized = re.sub(r"(=|!=|>=|<=|>|<|~>|~|\^)\s+", r"\1", alt)
                for term in re.split(r"[,\s]+", normalized):
                    if not term:
                        continue
                    m = _TERM_RE.match(term)
                    if not m:
                        from .golang.gojson import quote

                        raise SkopeoError(f"improper constraint: {quote(alt.encode())}")
                    checks += _bounds(m.group(1) or "", m.group(2))
            self.alternatives.append(checks)

    def matches(self, version: Version) -> bool:
        ops = {
            "==": lambda a, b: a.compare(b) == 0, "!=": lambda a, b: a.compare(b) != 0,
            ">": lambda a, b: a.compare(b) > 0, ">=": lambda a, b: a.compare(b) >= 0,
            "<": lambda a, b: a.compare(b) < 0, "<=": lambda a, b: a.compare(b) <= 0,
        }
        for checks in self.alternatives:
            # Like Masterminds: pre-releases only match constraints that mention one.
            if version.prerelease and not any(v.prerelease for _, v in checks):
                continue
            if all(ops[op](version, bound) for op, bound in checks):
                return True
        return False
