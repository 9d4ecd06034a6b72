# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""What every card renderer shares: the error they raise, the Jinja rendering of a card body, the assembly of front
matter + body into a huggingface_hub card, Hub id checks, readable numbers, and front-matter reading (huggingface_hub
`RepoCard`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import RepoCard

from .parts import HUB_ID


class CardError(ValueError):
    """A card cannot be rendered from what was given (missing licence, bad metadata...), or does not validate."""


def cell(value: Any) -> str:
    """A value for a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(value).split()).replace("|", "\\|")


def render_body(template: str, context: Mapping[str, Any]) -> str:
    """A card body: the Jinja `template` (of `hub_cards.templates`) filled with `context` (a missing variable is an
    error), with the `cell` filter, runs of blank lines squeezed to one."""
    import jinja2

    environment = jinja2.Environment(
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    environment.filters["cell"] = cell
    text = environment.from_string(template).render(**context)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def parse_card(card_class: type, card_data: Any, body: str) -> Any:
    """Assembles front matter + body and parses it back with the huggingface_hub card class."""
    content = f"---\n{card_data.to_yaml()}\n---\n\n{body}"
    try:
        return card_class(content)
    except ValueError as error:  # huggingface_hub refuses malformed metadata (e.g. a model-index it cannot parse)
        raise CardError(f"the rendered card does not parse: {error}") from None


def human_count(number: int) -> str:
    """1234567 -> "1.23M" (parameter counts)."""
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if number >= size:
            return f"{number / size:.3g}{unit}"
    return str(number)


def human_size(num_bytes: int) -> str:
    """1536 -> "1.5 kB" (decimal units, as the Hub shows file sizes)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= size:
            return f"{num_bytes / size:.1f} {unit}"
    return f"{num_bytes} B"


def library_versions() -> dict[str, str]:
    """The installed versions of the libraries a card names ("unknown" for a missing one)."""
    import importlib.metadata

    versions = {}
    for package in ("transformers", "torch", "datasets", "huggingface_hub"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in `path` (`what` names the file in errors).

    Raises:
        CardError: not JSON, or not an object.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CardError(f"{path} ({what}) is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise CardError(f"{path} ({what}) must hold a JSON object")
    return data


def check_hub_ids(values: Iterable[str], what: str) -> list[str]:
    """`values` without repeats, each checked to be a Hub id ("org/name"; `what` names them in errors).

    Raises:
        CardError: a value that is not a Hub id.
    """
    values = list(dict.fromkeys(values))
    for value in values:
        if not isinstance(value, str) or not HUB_ID.fullmatch(value):
            raise CardError(f"{what} {value!r} is not a Hub id like 'org/name'")
    return values


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter, body) of a Markdown file such as a card's `README.md`, read with huggingface_hub's `RepoCard`;
    `({}, text)` without front matter. Keys whose value is null are left out.

    Raises:
        CardError: the front matter is not a YAML mapping.
    """
    if not re.match(r"\A\s*---[\r\n]", text):
        return {}, text  # (RepoCard would log a warning for a file without front matter)
    try:
        card = RepoCard(text)
    except yaml.YAMLError as error:
        raise CardError(f"the README front matter is not YAML: {error}") from None
    except ValueError:  # huggingface_hub: "repo card metadata block should be a dict"
        raise CardError("the README front matter must be a YAML mapping") from None
    return card.data.to_dict(), card.text


__all__ = [
    "CardError",
    "cell",
    "check_hub_ids",
    "human_count",
    "human_size",
    "library_versions",
    "parse_card",
    "read_json_object",
    "render_body",
    "split_front_matter",
]
