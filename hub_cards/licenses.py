# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Licences of a repository: the one its parts (base models, data) lead to, the rows of a card's licence table, and the
Llama licence's naming rule."""

from __future__ import annotations

from collections.abc import Sequence

from .parts import CODE_LICENSE, Part
from .rendering import CardError

_PERMISSIVE = {"apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "cc0-1.0", "cc-by-4.0"}


def resolve_license(parts: Sequence[Part], what: str) -> str:
    """The licence of a repository built on `parts`: the single licence they share; a Llama licence when one of
    them has it (its terms carry over to derivatives); Apache-2.0 when they are all permissive.

    Raises:
        CardError: no parts, a part with an unknown licence, or a mix this function will not decide (pass the
            licence explicitly).
    """
    if not parts:
        raise CardError(f"cannot tell the licence of the {what}: pass --license (or --base-model with known models)")
    unknown = [p.id for p in parts if p.license is None]
    if unknown:
        raise CardError(f"cannot tell the licence of the {what}: the licence of {unknown} is unknown here; "
                        "pass --license")
    licenses = {p.license for p in parts}
    if len(licenses) == 1:
        return licenses.pop()
    llama = sorted(x for x in licenses if x.startswith("llama"))
    if len(llama) == 1:
        return llama[0]
    if licenses <= _PERMISSIVE:
        return "apache-2.0"
    raise CardError(f"the {what} builds on parts under {sorted(licenses)}: pass --license")


def license_rows(parts: Sequence[Part], vocoder_source: str | None) -> list[dict[str, str]]:
    rows = [{"name": "code (the `.py` files: llama-omni-hf)", "license": CODE_LICENSE, "note": ""}]
    for part in parts:
        label = f"[{part.id}]({part.url})" if part.url else part.title
        rows.append({
            "name": f"{part.role.replace('_', ' ')}: {label}",
            "license": part.license or "unknown: see its card",
            "note": part.note,
        })  # fmt: skip
    if vocoder_source:
        rows.append({"name": "unit vocoder (`vocoder/`)", "license": "see note", "note": vocoder_source})
    return rows


def llama_name_warning(repo_id: str, license: str | None) -> str | None:
    """A warning when a Llama-licensed repository's name does not begin with "Llama" (Llama 3.1 licence, 1.b.i),
    else `None`."""
    name = repo_id.split("/")[-1]
    if (license or "").startswith("llama") and not name.lower().startswith("llama"):
        return (f"the Llama licence asks that a derivative model's name begin with \"Llama\"; {name!r} does not "
                "(rename the repository, e.g. Llama-...)")
    return None


__all__ = [
    "license_rows",
    "llama_name_warning",
    "resolve_license",
]
