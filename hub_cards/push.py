# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`llama-omni push model|dataset|space PATH --repo-id ORG/NAME [--dry-run DIR]`: build the exact folder a Hub
repository should hold, then upload it (or, with `--dry-run`, only write it and list it).

What each repository gets:

    model     README.md (the model card), config.json (+ auto_map), generation_config.json, the safetensors weights
              (+ index), the remote-code files (configuration_llama_omni.py, modeling_llama_omni.py,
              modeling_omni2_decoder.py, streaming_llama_omni.py, configuration_unit_vocoder.py,
              modeling_unit_vocoder.py), the processor
              (processor_config.json + auto_map, tokenizer files, chat_template.jinja, processing_llama_omni.py + audio_llama_omni.py),
              vocoder/ (config.json + auto_map, model.safetensors, its two code files) and, with --eval-json,
              evaluation.json (the report the card quotes).
    dataset   README.md (the dataset card, whose `configs` point at the parquet files),
              data/SPLIT-0000i-of-0000n.parquet (audio embedded as bytes), build_report.json (local paths of the build machine removed),
              rejected.jsonl and unit_extractor/ when the build has them.
    space     README.md (the Space card: front matter with sdk gradio, sdk_version, app_file, models, license) and
              every other file of the Space folder except hidden files (.env, .git ...), __pycache__ and *.pyc.

The upload mirrors the folder: `create_repo(exist_ok=True)` then one `upload_folder` commit that also deletes the
repository's files that are not in the folder (the Hub keeps `.gitattributes`). The token is huggingface_hub's
usual one (`HF_TOKEN` or `hf auth login`); it never goes on the command line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.schema import EvalReportError, load_eval_report

from .dataset_card import public_report, render_dataset_card
from .inspection import VOCODER_SUBFOLDER
from .licenses import llama_name_warning
from .model_card import EVAL_FILE_NAME, render_converted_card, render_model_card
from .parts import CODE_LICENSE, GRADIO_SDK_VERSION, ORIGINAL_REPO
from .recipes import load_recipe
from .rendering import CardError, human_size, split_front_matter
from .space_card import render_space_card

REPO_TYPES = ("model", "dataset", "space")
_MODEL_FILES = ("config.json", "generation_config.json")
_SPACE_SKIPPED_DIRS = {"__pycache__", "flagged", "node_modules"}


class PushError(RuntimeError):
    """The folder cannot be built or uploaded (bad source folder, occupied output folder, Hub switched off)."""


@dataclass
class BuiltFolder:
    """A folder ready to be uploaded as a Hub repository.

    Attributes:
        folder: where it was written.
        repo_type: "model", "dataset" or "space".
        repo_id: the repository it is for.
        files: `(path relative to folder, size in bytes)` of every file, sorted by path.
        warnings: things the uploader should know (e.g. a Llama-licensed repository not named "Llama...").
    """

    folder: Path
    repo_type: str
    repo_id: str
    files: list[tuple[str, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def url(self) -> str:
        prefix = {"model": "", "dataset": "datasets/", "space": "spaces/"}[self.repo_type]
        return f"https://huggingface.co/{prefix}{self.repo_id}"


def list_files(folder: str | os.PathLike) -> list[tuple[str, int]]:
    """`(relative path with "/" separators, size)` of every file under `folder`, sorted by path."""
    folder = Path(folder)
    return sorted(
        (path.relative_to(folder).as_posix(), path.stat().st_size) for path in folder.rglob("*") if path.is_file()
    )


def hub_offline() -> bool:
    """Whether the Hub is switched off here (`HF_HUB_OFFLINE` / `TRANSFORMERS_OFFLINE`, now or at import)."""
    from huggingface_hub import constants

    now = any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
              for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))  # fmt: skip
    return now or constants.is_offline_mode()


def check_hub_reachable() -> None:
    """Raises `PushError` with what to do when the Hub is switched off (before any work is done)."""
    if hub_offline():
        raise PushError(
            "cannot upload to the Hugging Face Hub: offline mode is on (HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1). "
            "Unset it and log in (HF_TOKEN or `hf auth login`) to upload, or pass --dry-run DIR to write the "
            "repository folder and list its files without any network."
        )


def _check_output(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PushError(f"{out} exists and is not an empty folder: give a new folder (nothing is overwritten)")
    return out


@contextmanager
def _writing(out: Path) -> Iterator[Path]:
    """Creates `out` (new or empty) and empties it again if writing fails, so no half-built folder is left."""
    _check_output(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        raise


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-links a file that is never modified afterwards (weights), or copies it across file systems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _weight_files(folder: Path, what: str) -> list[str]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise PushError(f"{folder}: the shards {missing} of model.safetensors.index.json are missing")
        return [index.name, *shards]
    if (folder / "model.safetensors").is_file():
        return ["model.safetensors"]
    if any(folder.glob("pytorch_model*.bin")):
        raise PushError(f"{folder} ({what}) has pickled pytorch_model*.bin weights only: re-save it with "
                        "save_pretrained (safetensors) first; pickles are not published")
    raise PushError(f"{folder} ({what}) has no safetensors weights")


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------


def build_model_folder(
    source: str | os.PathLike,
    out: str | os.PathLike,
    repo_id: str,
    *,
    vocoder: str | os.PathLike | None = None,
    require_vocoder: bool = True,
    eval_json: str | os.PathLike | None = None,
    recipes: Sequence[str | os.PathLike] = (),
    base_models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    title: str | None = None,
    converted_from: str | None = None,
    vocoder_source: str | None = None,
) -> BuiltFolder:
    """Writes the repository folder of a LLaMA-Omni model to `out` (see the module docstring for its files).

    The card is rendered first (from `source`), so a folder that cannot get a valid card writes nothing.

    Args:
        source: a model folder saved with `save_pretrained` (model + processor), trained or converted.
        out: a new or empty folder.
        repo_id: the model repository ("org/name").
        vocoder: the unit vocoder folder when `source` has no `vocoder/` subfolder.
        require_vocoder: refuse a model without a vocoder (it could not speak).
        eval_json: an evaluation report (`evaluation.schema`), copied to `evaluation.json` and quoted by the card.
        recipes: training recipes, as `PATH` or `STAGE=PATH`.
        base_models, datasets, license, language, tags, title, vocoder_source: see `render_model_card`.
        converted_from: the Hub id of the released checkpoint `source` was converted from: renders the
            converted-checkpoint card (`render_converted_card`) instead.

    Raises:
        PushError: no processor, no vocoder (with `require_vocoder`), pickled weights only, a vocoder whose unit
            vocabulary differs from the model's, an occupied `out`, or recipes / base models / datasets given with
            `converted_from`.
        CardError / EvalReportError / FileNotFoundError: the card cannot be rendered from what was given.
    """
    from modeling_llama_omni.modeling_llama_omni import write_remote_code
    from processing.processing_llama_omni import LlamaOmniProcessor

    source = Path(source)
    if converted_from and (recipes or base_models or datasets):
        raise PushError("a converted checkpoint's card names its source repository only: --recipe, --base-model and "
                        "--dataset do not apply with --converted-from")
    if not (source / "config.json").is_file():
        raise PushError(f"{source} has no config.json: give a folder written by save_pretrained")
    if not (source / "processor_config.json").is_file():
        raise PushError(f"{source} has no processor (processor_config.json): the usage snippet needs one; save it "
                        "there with processor.save_pretrained(folder)")
    vocoder_dir = Path(vocoder) if vocoder is not None else source / VOCODER_SUBFOLDER
    has_vocoder = (vocoder_dir / "config.json").is_file()
    if vocoder is not None and not has_vocoder:
        raise PushError(f"{vocoder_dir} has no config.json: not a saved unit vocoder folder")
    if not has_vocoder and require_vocoder:
        raise PushError(f"{source} has no {VOCODER_SUBFOLDER}/ subfolder: pass --vocoder DIR (a UnitVocoder folder), "
                        "or --no-vocoder to publish a model that only predicts speech units")
    weights = _weight_files(source, "model")
    vocoder_weights = _weight_files(vocoder_dir, "vocoder") if has_vocoder else []

    report = load_eval_report(eval_json) if eval_json is not None else None
    card_kwargs: dict[str, Any] = dict(eval_report=report, language=language, tags=tags, title=title,
                                       vocoder_folder=vocoder_dir if has_vocoder else None,
                                       vocoder_source=vocoder_source)  # fmt: skip
    if converted_from:
        card = render_converted_card(source, repo_id, source_repo=converted_from, license=license, **card_kwargs)
    else:
        card = render_model_card(source, repo_id, recipes=[load_recipe(r) for r in recipes],
                                 base_models=base_models, datasets=datasets, license=license, **card_kwargs)
    if has_vocoder:
        model_units = json.loads((source / "config.json").read_text(encoding="utf-8")).get("unit_vocab_size")
        vocoder_units = json.loads((vocoder_dir / "config.json").read_text(encoding="utf-8")).get("unit_vocab_size")
        if model_units != vocoder_units:
            raise PushError(f"the vocoder speaks {vocoder_units} units but the model predicts {model_units}: "
                            "they do not belong together")

    _check_output(out)
    processor = LlamaOmniProcessor.from_pretrained(str(source))
    with _writing(Path(out)) as out:
        for name in _MODEL_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, out / name)
        for name in weights:
            _link_or_copy(source / name, out / name)
        write_remote_code(out)
        processor.save_pretrained(str(out), remote_code=True)
        if has_vocoder:
            target = out / VOCODER_SUBFOLDER
            target.mkdir()
            shutil.copyfile(vocoder_dir / "config.json", target / "config.json")
            for name in vocoder_weights:
                _link_or_copy(vocoder_dir / name, target / name)
            _write_vocoder_remote_code(target)
        if eval_json is not None:
            shutil.copyfile(eval_json, out / EVAL_FILE_NAME)
        card.save(out / "README.md")
    warnings = [w for w in [llama_name_warning(repo_id, card.data.license)] if w]
    return BuiltFolder(out, "model", repo_id, list_files(out), warnings)


def _write_vocoder_remote_code(folder: Path) -> list[str]:
    """The code files and `auto_map` of the vocoder saved in `folder`, chosen by its config's `model_type`."""
    from modeling_llama_omni.modeling_token2wav import write_token2wav_remote_code
    from modeling_llama_omni.modeling_unit_vocoder import write_vocoder_remote_code
    from modeling_llama_omni.modeling_vits_vocoder import write_vits_vocoder_remote_code

    model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    writers = {"llama_omni_vits_vocoder": write_vits_vocoder_remote_code,
               "llama_omni2_token2wav": write_token2wav_remote_code}
    return writers.get(model_type, write_vocoder_remote_code)(folder)


# ----------------------------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------------------------


def _parse_size(size: str | int) -> int:
    from datasets.utils.py_utils import convert_file_size_to_int

    try:
        value = convert_file_size_to_int(size)
    except ValueError:
        raise PushError(f"not a size: {size!r} (e.g. 500MB)") from None
    if value <= 0:
        raise PushError(f"the shard size must be positive, got {size!r}")
    return value


def build_dataset_folder(
    build_folder: str | os.PathLike,
    out: str | os.PathLike,
    repo_id: str,
    *,
    license: str | Sequence[str] | None = None,
    pretty_name: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    max_shard_size: str | int = "500MB",
    data_dir: str = "data",
) -> BuiltFolder:
    """Writes the repository folder of a finished `llama-omni data build` to `out` (parquet shards, card, report).

    Args:
        build_folder: the build's output folder (`dataset_dict.json` + `build_report.json`).
        out: a new or empty folder.
        repo_id: the dataset repository ("org/name").
        license, pretty_name, language, tags: see `render_dataset_card`.
        max_shard_size: the largest parquet shard (by the split's in-memory size), e.g. "500MB".
        data_dir: the parquet folder in the repository.

    Raises:
        FileNotFoundError / CardError: see `render_dataset_card`.
        PushError: an occupied `out` or a bad shard size.
    """
    import datasets
    from datasets.table import embed_table_storage

    build_folder = Path(build_folder)
    shard_bytes = _parse_size(max_shard_size)
    card = render_dataset_card(build_folder, repo_id, data_dir=data_dir, license=license, pretty_name=pretty_name,
                               language=language, tags=tags)  # fmt: skip
    dataset = datasets.load_from_disk(str(build_folder))
    report = public_report(json.loads((build_folder / "build_report.json").read_text(encoding="utf-8")), build_folder)
    with _writing(Path(out)) as out:
        (out / data_dir).mkdir()
        for split in dataset:
            part = dataset[split]
            num_shards = max(1, min(len(part), math.ceil(part.data.nbytes / shard_bytes)))
            for index in range(num_shards):
                shard = part.shard(num_shards=num_shards, index=index, contiguous=True)
                shard = shard.with_format("arrow").map(embed_table_storage, batched=True, keep_in_memory=True)
                name = f"{split}-{index:05d}-of-{num_shards:05d}.parquet"
                shard.with_format(None).to_parquet(str(out / data_dir / name))
        (out / "build_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
        if (build_folder / "rejected.jsonl").is_file():
            shutil.copyfile(build_folder / "rejected.jsonl", out / "rejected.jsonl")
        extractor = build_folder / "unit_extractor"
        if (extractor / "unit_extractor.json").is_file():
            shutil.copytree(extractor, out / "unit_extractor")
        card.save(out / "README.md")
    return BuiltFolder(out, "dataset", repo_id, list_files(out))


# ----------------------------------------------------------------------------------------------------------------------
# Space
# ----------------------------------------------------------------------------------------------------------------------


def _space_files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(p.startswith(".") or p in _SPACE_SKIPPED_DIRS for p in relative.parts):
            continue
        if path.is_file() and path.suffix != ".pyc" and relative.as_posix() != "README.md":
            files.append(path)
    return files


def build_space_folder(
    space_folder: str | os.PathLike,
    out: str | os.PathLike,
    repo_id: str,
    *,
    models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str | None = None,
    title: str | None = None,
    app_file: str = "app.py",
    sdk_version: str = GRADIO_SDK_VERSION,
    package_wheel: bool = True,
) -> BuiltFolder:
    """Writes the repository folder of a Gradio Space to `out`: the Space folder's files and its card.

    With `package_wheel` (the default), the app runs on this project as an installed package: its wheel goes into
    `wheels/` and `requirements.txt` gets the line that installs it; the Python modules of a Space folder that is
    a package (has `__init__.py`, as this project's `space/`) come with the wheel, so only the app file is copied.

    The card keeps the body of the folder's own `README.md` (and its other front-matter keys, such as `emoji`);
    `title`, `sdk`, `sdk_version`, `app_file`, `license`, `models` and `datasets` are set here (`models` /
    `datasets` / `license` / `title` default to the README's own values when not given).

    Raises:
        PushError: no such folder, no app file, an occupied `out`, or a package wheel that cannot be built.
        CardError: invalid ids or front matter.
    """
    from .package_wheel import PackageWheelError, build_project_wheel, wheel_requirement

    space_folder = Path(space_folder)
    if not space_folder.is_dir():
        raise PushError(f"{space_folder} is not a folder (give the Space folder, e.g. space/)")
    if not (space_folder / app_file).is_file():
        raise PushError(f"{space_folder} has no {app_file}: a Gradio Space needs its app file")
    front, body = {}, ""
    if (space_folder / "README.md").is_file():
        front, body = split_front_matter((space_folder / "README.md").read_text(encoding="utf-8"))
        front_title = front.get("title")
        if isinstance(front_title, str):
            body = body.lstrip()
            if body.startswith(f"# {front_title}\n"):
                body = body[len(front_title) + 3:]
    card = render_space_card(
        repo_id,
        models=list(models) or list(front.get("models") or []),
        datasets=list(datasets) or list(front.get("datasets") or []),
        license=license or front.get("license") or CODE_LICENSE,
        title=title or front.get("title"),
        body=body,
        app_file=app_file,
        sdk_version=sdk_version,
        emoji=front.get("emoji", "🗣️"),
        short_description=front.get("short_description", "Speak a question, hear the answer as it is generated"),
        tags=[t for t in front.get("tags") or [] if isinstance(t, str)],
        extra={k: v for k, v in front.items() if k not in ("emoji", "short_description", "tags")},
    )
    files = _space_files(space_folder)
    if package_wheel and (space_folder / "__init__.py").is_file():  # the package's modules come with the wheel
        files = [p for p in files if p.suffix != ".py" or p.relative_to(space_folder).as_posix() == app_file]
    with _writing(Path(out)) as out:
        for path in files:
            target = out / path.relative_to(space_folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if package_wheel:
            try:
                wheel = build_project_wheel(out / "wheels")
            except PackageWheelError as error:
                raise PushError(str(error)) from error
            requirements = out / "requirements.txt"
            lines = requirements.read_text(encoding="utf-8").rstrip("\n") + "\n" if requirements.is_file() else ""
            requirements.write_text(lines + wheel_requirement(repo_id, wheel) + "\n", encoding="utf-8")
        card.save(out / "README.md")
    warnings = []
    if not (out / "requirements.txt").is_file():
        warnings.append(f"{space_folder} has no requirements.txt: the Space will have only gradio {sdk_version} "
                        "and its dependencies")
    return BuiltFolder(out, "space", repo_id, list_files(out), warnings)


# ----------------------------------------------------------------------------------------------------------------------
# Upload
# ----------------------------------------------------------------------------------------------------------------------


def upload_built_folder(built: BuiltFolder, *, private: bool = False, commit_message: str | None = None) -> str:
    """Creates the repository (if needed) and uploads `built.folder` in one commit that mirrors it (repository
    files missing from the folder are deleted, `.gitattributes` excepted). Returns the repository URL.

    Raises:
        PushError: the Hub is switched off.
        huggingface_hub errors: no network, no token, no write access.
    """
    check_hub_reachable()
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(built.repo_id, repo_type=built.repo_type, private=private, exist_ok=True,
                    space_sdk="gradio" if built.repo_type == "space" else None)  # fmt: skip
    api.upload_folder(
        folder_path=str(built.folder),
        repo_id=built.repo_id,
        repo_type=built.repo_type,
        commit_message=commit_message or f"Upload with llama-omni push {built.repo_type}",
        delete_patterns="*",
    )
    return built.url


def describe(built: BuiltFolder, dry_run: bool, private: bool) -> str:
    """The listing printed by the command: every file with its size, and the total."""
    visibility = "private" if private else "public"
    head = (f"dry run: wrote the {built.repo_type} repository folder {built.folder} (nothing was uploaded)\n"
            f"would upload {len(built.files)} files, {human_size(built.total_bytes)}, to {built.url} ({visibility}; "
            "repository files not in this folder would be deleted):"
            if dry_run else f"uploaded {len(built.files)} files, {human_size(built.total_bytes)}, to {built.url} "
            f"({visibility}):")  # fmt: skip
    lines = [head] + [f"  {human_size(size):>9}  {path}" for path, size in built.files]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("path", help="what to publish (see each kind)")
    common.add_argument("--repo-id", required=True, help="the Hub repository, ORG/NAME")
    common.add_argument("--dry-run", metavar="DIR", help="only write the repository folder to DIR (new or empty) and "
                        "list what would be uploaded; no network")
    common.add_argument("--private", action="store_true", help="create the repository as private")
    common.add_argument("--commit-message", help="the commit message of the upload")
    common.add_argument("--license", help="the repository licence (a Hub licence id, e.g. apache-2.0, llama3.1, "
                        "cc-by-nc-4.0); default: derived from the parts")
    common.add_argument("--title", help="the card's title (default: the repository name)")
    parser = argparse.ArgumentParser(
        prog="llama-omni push",
        description="Build the exact folder of a Hub repository (files, remote code, card) and upload it with "
        "huggingface_hub, or with --dry-run only write it.",
    )
    sub = parser.add_subparsers(dest="kind", required=True)
    model = sub.add_parser("model", parents=[common], help="a LLaMA-Omni model folder (model + processor + vocoder/)")
    model.add_argument("--eval-json", help="the evaluation report (llama-omni evaluate) the card quotes")
    model.add_argument("--recipe", action="append", default=[], metavar="[STAGE=]FILE",
                       help="a training recipe used (repeatable; STAGE: stage1, stage2, vocoder, data)")
    model.add_argument("--base-model", action="append", default=[], metavar="ID",
                       help="Hub id of the LLM / the speech encoder (repeatable)")
    model.add_argument("--dataset", action="append", default=[], metavar="ID", help="Hub id of training data")
    model.add_argument("--language", action="append", metavar="CODE", help="ISO 639 code (repeatable; default en)")
    model.add_argument("--tag", action="append", default=[], help="an extra tag (repeatable)")
    model.add_argument("--vocoder", metavar="DIR", help="the unit vocoder folder if PATH has no vocoder/ subfolder")
    model.add_argument("--no-vocoder", action="store_true", help="publish without a vocoder (units only)")
    model.add_argument("--vocoder-source", metavar="TEXT", help="where the vocoder comes from and its terms")
    model.add_argument("--converted-from", nargs="?", const=ORIGINAL_REPO, metavar="REPO",
                       help=f"PATH is a converted released checkpoint (default source: {ORIGINAL_REPO})")
    dataset = sub.add_parser("dataset", parents=[common], help="a finished llama-omni data build folder")
    dataset.add_argument("--language", action="append", metavar="CODE", help="ISO 639 code (default en)")
    dataset.add_argument("--tag", action="append", default=[], help="an extra tag (repeatable)")
    dataset.add_argument("--max-shard-size", default="500MB", help="largest parquet shard (default 500MB)")
    space = sub.add_parser("space", parents=[common], help="a Gradio Space folder (app.py, requirements.txt ...)")
    space.add_argument("--model", action="append", default=[], metavar="ID", help="a model the Space uses")
    space.add_argument("--dataset", action="append", default=[], metavar="ID", help="a dataset the Space uses")
    space.add_argument("--app-file", default="app.py", help="the Space's entry point (default app.py)")
    space.add_argument("--no-package-wheel", action="store_true",
                       help="do not ship this project's wheel with the Space (an app that does not import it)")
    return parser


def _build(args: argparse.Namespace, out: Path) -> BuiltFolder:
    if args.kind == "model":
        return build_model_folder(
            args.path, out, args.repo_id, vocoder=args.vocoder, require_vocoder=not args.no_vocoder,
            eval_json=args.eval_json, recipes=args.recipe, base_models=args.base_model, datasets=args.dataset,
            license=args.license, language=args.language or ["en"], tags=args.tag, title=args.title,
            converted_from=args.converted_from, vocoder_source=args.vocoder_source,
        )  # fmt: skip
    if args.kind == "dataset":
        return build_dataset_folder(args.path, out, args.repo_id, license=args.license, pretty_name=args.title,
                                    language=args.language or ["en"], tags=args.tag,
                                    max_shard_size=args.max_shard_size)  # fmt: skip
    return build_space_folder(args.path, out, args.repo_id, models=args.model, datasets=args.dataset,
                              license=args.license, title=args.title, app_file=args.app_file,
                              package_wheel=not args.no_package_wheel)  # fmt: skip


def push_main(argv: Sequence[str] | None = None) -> int:
    """`llama-omni push model|dataset|space PATH --repo-id ORG/NAME [--dry-run DIR] [...]`.

    Returns 0 after a dry run or an upload; 2 with `error: ...` on stderr for a bad command line, source folder,
    card input or output folder, and when uploading is impossible because the Hub is switched off (checked before
    any work). Errors of the upload itself (network, token, permissions) propagate.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        try:
            validate_repo_id(args.repo_id)
        except HFValidationError as error:
            raise PushError(f"--repo-id {args.repo_id!r}: {error}") from None
        if "/" not in args.repo_id:
            raise PushError(f"--repo-id must be ORG/NAME (or USER/NAME), got {args.repo_id!r}")
        if args.dry_run:
            built = _build(args, Path(args.dry_run))
        else:
            check_hub_reachable()
            parent = Path(args.path).resolve().parent
            staging_root = parent if os.access(parent, os.W_OK) else None
            with tempfile.TemporaryDirectory(prefix=".llama-omni-push-", dir=staging_root) as staging:
                built = _build(args, Path(staging) / "repo")
                for warning in built.warnings:
                    print(f"warning: {warning}", file=sys.stderr)
                upload_built_folder(built, private=args.private, commit_message=args.commit_message)
                print(describe(built, dry_run=False, private=args.private))
            return 0
    except (PushError, CardError, EvalReportError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in built.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(describe(built, dry_run=True, private=args.private))
    return 0


__all__ = [
    "REPO_TYPES",
    "BuiltFolder",
    "PushError",
    "build_dataset_folder",
    "build_model_folder",
    "build_space_folder",
    "check_hub_reachable",
    "describe",
    "hub_offline",
    "list_files",
    "push_main",
    "upload_built_folder",
]
