# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The card (`README.md`) of a Gradio Space: its front matter (gradio SDK and version, app file, licence, the models
and datasets it uses) and a short description."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from huggingface_hub import SpaceCard, SpaceCardData

from .checks import check_space_card
from .parts import CODE_LICENSE, GRADIO_SDK_VERSION, LLAMA_OMNI_PAPER
from .rendering import check_hub_ids, parse_card, render_body
from .templates import SPACE_CARD_TEMPLATE


def render_space_card(
    repo_id: str,
    *,
    models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str = CODE_LICENSE,
    title: str | None = None,
    body: str | None = None,
    app_file: str = "app.py",
    sdk_version: str = GRADIO_SDK_VERSION,
    emoji: str = "🗣️",
    short_description: str | None = "Speak a question, hear the answer as it is generated",
    tags: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> SpaceCard:
    """Renders the `README.md` of a Gradio Space (the Space front matter + a short description).

    Args:
        repo_id: the Space ("org/name").
        models, datasets: Hub ids the Space uses (linked from the Space page).
        license: the Space's licence (default: this project's code licence).
        title: the Space title (default: the repository name).
        body: Markdown under the title (e.g. the body of the Space folder's own README); default: a description.
        app_file, sdk_version: the Space's entry point and Gradio version.
        emoji, short_description, tags: shown by the Hub.
        extra: further front-matter keys to keep (e.g. `pinned`, `colorFrom`), below the ones set here.

    Raises:
        CardError: invalid ids, licence or front matter.
    """
    check_hub_ids([repo_id], "repo_id")
    models = check_hub_ids(models, "model")
    datasets = check_hub_ids(datasets, "dataset")
    name = repo_id.split("/")[-1]
    fields = {k: v for k, v in (extra or {}).items()
              if k not in {"title", "sdk", "sdk_version", "app_file", "license", "models", "datasets"}}  # fmt: skip
    fields.setdefault("colorFrom", "indigo")
    fields.setdefault("colorTo", "purple")
    fields.setdefault("pinned", False)
    card_data = SpaceCardData(
        title=title or name,
        sdk="gradio",
        sdk_version=sdk_version,
        app_file=app_file,
        license=license,
        models=models or None,
        datasets=datasets or None,
        tags=list(dict.fromkeys(["llama-omni", "speech", "streaming", *tags])),
        emoji=emoji,
        short_description=short_description,
        **fields,
    )
    context = {"title": title or name, "body": (body or "").strip(), "models": models,
               "paper_url": LLAMA_OMNI_PAPER, "sdk_version": sdk_version}  # fmt: skip
    card = parse_card(SpaceCard, card_data, render_body(SPACE_CARD_TEMPLATE, context))
    check_space_card(card)
    return card


__all__ = [
    "render_space_card",
]
