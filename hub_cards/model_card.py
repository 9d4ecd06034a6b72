# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""The model cards: a trained LLaMA-Omni model folder's (`render_model_card`) and a converted released checkpoint's
(`render_converted_card`).

Each reads the facts from the folder (`hub_cards.inspection`) and, when given, an evaluation report (the schema of
`evaluation.schema`: its measured metrics become `model-index` results and the results section), fills a template
of `hub_cards.templates`, parses the result back with huggingface_hub's `ModelCard` and checks its metadata
(`check_model_card`). A card that does not pass is never returned: the renderer raises `CardError`.

Nothing is guessed: a base model, a dataset or a licence the caller does not give and the folder does not record is
left out (or, for a licence the Hub needs, refused with a message saying which option to pass).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from evaluation.schema import EVAL_TASK_NAME, EVAL_TASK_TYPE, EvalReport, format_metric, metric_spec

from .checks import check_model_card
from .inspection import ModelFolderFacts, base_models_from_config, inspect_model_folder
from .licenses import license_rows, resolve_license
from .parts import (
    KNOWN_INSTRUCTION_SOURCES,
    LLAMA_OMNI_CITATION,
    LLAMA_OMNI_PAPER,
    MODEL_PIPELINE_TAG,
    NON_COMMERCIAL_LICENSES,
    ORIGINAL_CODE,
    ORIGINAL_INSTRUCTION,
    ORIGINAL_REPO,
    ORIGINAL_SYSTEM_PROMPT,
    Part,
    model_part,
)
from .recipes import TrainingRecipe
from .rendering import check_hub_ids, human_count, library_versions, parse_card, render_body
from .templates import CONVERTED_CARD_TEMPLATE, MODEL_CARD_TEMPLATE, MODEL_USAGE_TEMPLATE

EVAL_FILE_NAME = "evaluation.json"  # where a model repository keeps the evaluation report its card quotes
DEFAULT_TAGS = ("llama-omni", "speech", "speech-to-speech", "audio", "streaming")


def eval_results(report: EvalReport) -> list[EvalResult]:
    """One `model-index` result per measured top-level metric of `report` (nothing for a missing metric)."""
    results = []
    for key, value in report.metrics.items():
        spec = metric_spec(key)
        results.append(
            EvalResult(
                task_type=EVAL_TASK_TYPE,
                task_name=EVAL_TASK_NAME,
                dataset_type=report.eval_set.hub_type,
                dataset_name=report.eval_set.name,
                dataset_split=report.eval_set.split,
                metric_type=spec.hub_type,
                metric_name=f"{spec.name} ({spec.unit})" if spec.unit else spec.name,
                metric_value=value,
                metric_config=key,
            )
        )
    return results


def _evaluation_context(report: EvalReport | None) -> dict[str, Any]:
    if report is None:
        return {"evaluation": None, "metric_rows": [], "omega_rows": [], "omega_columns": [], "settings": [],
                "eval_file": EVAL_FILE_NAME}  # fmt: skip
    metric_rows = [
        {"name": metric_spec(k).name, "value": format_metric(k, v), "better": metric_spec(k).better or "-",
         "description": metric_spec(k).description or "-"}
        for k, v in report.metrics.items()
    ]  # fmt: skip
    keys = report.per_omega_metric_keys
    omega_rows = [
        {"omega": omega, "values": [format_metric(k, values[k]) if k in values else "not measured" for k in keys]}
        for omega, values in report.per_omega
    ]
    return {
        "evaluation": report,
        "metric_rows": metric_rows,
        "omega_rows": omega_rows,
        "omega_columns": [metric_spec(k).name for k in keys],
        "settings": sorted(report.settings.items()),
        "eval_file": EVAL_FILE_NAME,
    }


def _question_content(processor: dict[str, Any]) -> str:
    """The content of the usage snippet's user turn, as Python source (a list, one item a line): the spoken question
    ("question.wav") with the text that the processor's `default_instruction` puts around its speech token (the prompt
    the model was trained with; no text for a bare `<speech>` instruction)."""
    token = processor.get("speech_token", "<speech>")
    before, _, after = processor.get("default_instruction", ORIGINAL_INSTRUCTION).partition(token)
    content = [{"type": "text", "text": before}] if before else []
    content.append({"type": "audio", "path": "question.wav"})
    if after:
        content.append({"type": "text", "text": after})
    return "[\n" + "".join(f"    {json.dumps(item, ensure_ascii=False)},\n" for item in content) + "]"


def _usage(repo_id: str, facts: ModelFolderFacts) -> str:
    feature_extractor = facts.processor.get("feature_extractor") or {}
    return render_body(MODEL_USAGE_TEMPLATE, {
        "repo_id": repo_id,
        "user_content": _question_content(facts.processor),
        "processor_sampling_rate": feature_extractor.get("sampling_rate", 16000),
        "max_audio_seconds": f"{facts.processor.get('max_audio_seconds', 30.0):g}",
        "chunk_size": 10,
        "vocoder_sampling_rate": (facts.vocoder_config or {}).get("sampling_rate", "?"),
    }).strip()  # fmt: skip


def _limitations(facts: ModelFolderFacts, languages: Sequence[str]) -> list[str]:
    items = [
        f"Language: trained for {', '.join(languages)}; other languages are untested.",
        f"Input: one spoken question of at most {facts.processor.get('max_audio_seconds', 30.0):g} s (the Whisper "
        "encoder's window); the processor refuses longer, silent or clipped audio. The training data are single-turn "
        "questions: multi-turn conversations are untested.",
        "Output voice: answers are spoken in the one voice of the unit vocoder (the voice of the training answers).",
        "The spoken answer follows the text answer unit by unit, but may slur or drop words (see ASR-WER when "
        "measured).",
        "The LLM can state false facts with confidence; nothing here adds safety tuning beyond the base LLM's.",
        "`trust_remote_code=True` runs the code of this repository: pin a revision you have read.",
    ]
    llm = facts.parameters.get("llm", 0)
    if 0 < llm < 1_000_000_000:
        items.insert(0, f"Small LLM ({human_count(llm)} parameters): expect short, simple and sometimes wrong "
                        "answers.")
    return items


def render_model_card(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    eval_report: EvalReport | None = None,
    recipes: Sequence[TrainingRecipe] = (),
    base_models: Sequence[str] = (),
    datasets: Sequence[str] = (),
    license: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    title: str | None = None,
    vocoder_folder: str | os.PathLike | None = None,
    vocoder_source: str | None = None,
) -> ModelCard:
    """Renders the model card (`README.md`) of a trained LLaMA-Omni model folder.

    Args:
        folder: the model folder (config, safetensors weights, processor; `vocoder/` inside or `vocoder_folder`).
        repo_id: the Hub repository ("org/name"): the usage snippet loads it.
        eval_report: the evaluation (`evaluation.schema.load_eval_report`): `model-index` entries and the results
            section; without it the card says that nothing was measured.
        recipes: the training recipes used (`load_recipe`).
        base_models: Hub ids of the LLM and the speech encoder; default: what the config records, if anything.
        datasets: Hub ids of the training data.
        license: the repository licence (a Hub id); default: derived from the base models (`resolve_license`).
        language: ISO 639 codes of the languages the model was trained for.
        tags: extra tags (added to `DEFAULT_TAGS`).
        title: the card's title (default: the repository name).
        vocoder_folder: the unit vocoder's folder when it is not `folder/vocoder`.
        vocoder_source: a sentence on where the vocoder comes from and its terms (shown in the licence table).

    Returns:
        The `ModelCard`, whose metadata passed `check_model_card`.

    Raises:
        CardError: an invalid id or licence, a licence that cannot be derived, or metadata that does not validate.
        FileNotFoundError: see `inspect_model_folder`.
    """
    facts = inspect_model_folder(folder, vocoder_folder)
    check_hub_ids([repo_id], "repo_id")
    base_models = check_hub_ids(list(base_models) or base_models_from_config(facts.config), "base model")
    datasets = check_hub_ids(datasets, "dataset")
    parts = [model_part(m) for m in base_models]
    data_parts = [KNOWN_INSTRUCTION_SOURCES.get(d) or Part(d, "training data", d, None) for d in datasets]
    license = license or resolve_license(parts, "model")
    name = repo_id.split("/")[-1]
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=MODEL_PIPELINE_TAG,
        license=license,
        base_model=base_models or None,
        datasets=datasets or None,
        language=list(language) or None,
        tags=list(dict.fromkeys([*DEFAULT_TAGS, *tags])),
        model_name=name if eval_report is not None and eval_report.metrics else None,
        eval_results=eval_results(eval_report) if eval_report is not None and eval_report.metrics else None,
    )
    all_parts = [*parts, *data_parts]
    license_note = ""
    non_commercial = [p.id for p in data_parts if p.license in NON_COMMERCIAL_LICENSES]
    if non_commercial:
        license_note = (f"Trained on {', '.join(non_commercial)} (non-commercial licence): those terms restrict the "
                        "use of this model too.")
    context = {
        "title": title or name,
        "paper_url": LLAMA_OMNI_PAPER,
        "built_with_llama": any((p.license or "").startswith("llama") for p in all_parts)
        or license.startswith("llama"),
        "adaptor_k": facts.config.get("speech_downsample_rate"),
        "upsample": facts.config.get("ctc_upsample_factor"),
        "architecture": facts.architecture_rows(),
        "vocoder_missing": facts.vocoder_config is None,
        "versions": library_versions(),
        "usage": _usage(repo_id, facts),
        "recipes": [
            {"title": r.title, "file": r.file, "summary": r.summary(),
             "yaml": yaml.safe_dump(r.fields, sort_keys=False, allow_unicode=True).strip()}
            for r in recipes
        ],  # fmt: skip
        "datasets": datasets,
        "trainer_results": [(k, f"{v:.6g}") for k, v in sorted(facts.trainer_results.items())],
        "limitations": _limitations(facts, list(language) or ["an unrecorded language"]),
        "license": license,
        "license_note": license_note,
        "parts": license_rows(all_parts, vocoder_source),
        "citation": LLAMA_OMNI_CITATION,
        **_evaluation_context(eval_report),
    }
    card = parse_card(ModelCard, card_data, render_body(MODEL_CARD_TEMPLATE, context))
    check_model_card(card)
    return card


def render_converted_card(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    source_repo: str = ORIGINAL_REPO,
    eval_report: EvalReport | None = None,
    license: str | None = None,
    language: Sequence[str] = ("en",),
    tags: Sequence[str] = (),
    title: str | None = None,
    vocoder_folder: str | os.PathLike | None = None,
    vocoder_source: str | None = None,
) -> ModelCard:
    """Renders the card of a released checkpoint converted with `llama-omni convert-original`.

    The card names the source repository (as `base_model`), its licence (Llama 3.1 for `ICTNLP/Llama-3.1-8B-Omni`)
    and what the conversion changed; the architecture table and parameter counts come from the converted folder.

    Args:
        folder: the converted folder.
        repo_id: the Hub repository of the converted checkpoint.
        source_repo: the Hub id of the released checkpoint.
        eval_report, language, tags, title, vocoder_folder, vocoder_source: as in `render_model_card`.
        license: default: the known licence of `source_repo`.

    Raises:
        CardError: an unknown source licence without `license`, or metadata that does not validate.
        FileNotFoundError: see `inspect_model_folder`.
    """
    facts = inspect_model_folder(folder, vocoder_folder)
    check_hub_ids([repo_id, source_repo], "repo id")
    source = model_part(source_repo, role="checkpoint")
    license = license or resolve_license([source], "converted checkpoint")
    name = repo_id.split("/")[-1]
    dtype = facts.config.get("dtype") or facts.config.get("torch_dtype") or "as in the source"
    changes = [
        f"`config.json`: model_type `omni_speech2s_llama` (LLaVA-style, transformers 4.43) -> `llama_omni` with "
        "nested `speech_encoder_config` (Whisper), `text_config` (the LLM) and `speech_decoder_config`; the "
        "`ctc_decoder_config` string became real fields, and the speech encoder no longer points at a local "
        "`large-v3.pt` file.",
        "Weights: renamed, not modified: the openai-whisper encoder names (`blocks.N.attn.query` ...) became "
        "transformers' `WhisperEncoder` names, `speech_projector` became `speech_adaptor`, `speech_generator` "
        f"became `speech_decoder`; stored as safetensors in {dtype}.",
        _converted_processor_change(facts, facts.config.get("speech_token_id")),
        "Code: the model, processor and vocoder classes are in this repository with their `auto_map` (no copied "
        "generation loop: streaming hooks the stock `generate()`).",
    ]
    if facts.vocoder_config is not None:
        changes.append("`vocoder/`: the unit vocoder as a `UnitVocoder` folder (weight norm folded into plain "
                       "weights, safetensors).")
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=MODEL_PIPELINE_TAG,
        license=license,
        base_model=[source_repo],
        language=list(language) or None,
        tags=list(dict.fromkeys([*DEFAULT_TAGS, "converted", *tags])),
        model_name=name if eval_report is not None and eval_report.metrics else None,
        eval_results=eval_results(eval_report) if eval_report is not None and eval_report.metrics else None,
    )
    context = {
        "title": title or name,
        "source_repo": source_repo,
        "paper_url": LLAMA_OMNI_PAPER,
        "original_code": ORIGINAL_CODE,
        "built_with_llama": license.startswith("llama"),
        "changes": changes,
        "architecture": facts.architecture_rows(),
        "vocoder_missing": facts.vocoder_config is None,
        "versions": library_versions(),
        "usage": _usage(repo_id, facts),
        "license": license,
        "license_note": source.note,
        "parts": license_rows([source], vocoder_source),
        "citation": LLAMA_OMNI_CITATION,
        **_evaluation_context(eval_report),
    }
    card = parse_card(ModelCard, card_data, render_body(CONVERTED_CARD_TEMPLATE, context))
    check_model_card(card)
    return card


def _converted_processor_change(facts: ModelFolderFacts, speech_token_id: Any) -> str:
    processor = facts.processor
    token = processor.get("speech_token", "<speech>")
    text = f"Tokenizer: a `{token}` placeholder token (id {speech_token_id}) was added"
    feature_extractor = processor.get("feature_extractor") or {}
    details = [f"the Whisper feature extractor ({feature_extractor.get('feature_size')} mel bins)"]
    if processor.get("pad_to_30s"):
        details.append("every clip padded to 30 s as in the original")
    if processor.get("default_system_prompt") == ORIGINAL_SYSTEM_PROMPT:
        details.append("the original system prompt")
    if processor.get("default_instruction") == ORIGINAL_INSTRUCTION:
        details.append("the original instruction")
    return f"{text}; the processor (`processor_config.json`) holds {', '.join(details)} and the chat template."


__all__ = [
    "DEFAULT_TAGS",
    "EVAL_FILE_NAME",
    "eval_results",
    "render_converted_card",
    "render_model_card",
]
