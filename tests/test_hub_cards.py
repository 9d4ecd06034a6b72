"""Hub publishing: the cards parse with huggingface_hub and their metadata validates, the model card's usage snippet
runs against a dry-run folder through remote code (our packages blocked), a dry run writes exactly the files it
lists, and a real push with the Hub switched off fails with a clear message."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pytest
import soundfile as sf
from huggingface_hub import DatasetCard, ModelCard, SpaceCard

from hub_cards import (
    CardError,
    EvalReportError,
    check_model_card,
    load_eval_report,
    parse_eval_report,
    render_converted_card,
    render_dataset_card,
    render_model_card,
)
from hub_cards.licenses import llama_name_warning
from hub_cards.rendering import human_size, split_front_matter
from hub_cards.parts import GRADIO_SDK_VERSION, MODEL_PIPELINE_TAG
from processing.instructs2s import BuildConfig, build_dataset
from tests.clean_interpreter import BLOCK_OUR_PACKAGES
from tests.test_instructs2s import KeywordVoice, PeakUnits
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_model_and_processor, tiny_vocoder
from llama_omni_cli import main as cli_main

ROOT = Path(__file__).resolve().parent.parent
REPO_ID = "me/Llama-omni-tiny"
BASE_MODELS = ["HuggingFaceTB/SmolLM2-135M-Instruct", "openai/whisper-base"]
EVALUATION = {
    "model": "tiny",
    "eval_set": {"name": "seed held-out", "split": "test", "num_examples": 131},
    "metrics": {"asr_wer": 0.0831, "ttfa_s": None, "distillmos": 3.917},
    "per_omega": [{"omega": 10, "distillmos": 3.5}, {"omega": 40, "distillmos": 4.25, "rtf": 0.5}],
}
MODEL_REPO_FILES = {
    "README.md", "config.json", "generation_config.json", "model.safetensors", "evaluation.json",
    "configuration_llama_omni.py", "modeling_llama_omni.py", "streaming_llama_omni.py",
    "modeling_omni2_decoder.py", "configuration_unit_vocoder.py", "modeling_unit_vocoder.py",
    # the model loads a LLaMA-Omni2 token-to-waveform vocoder/ too, so its code travels with every folder
    "configuration_token2wav.py", "modeling_token2wav.py", "modeling_token2wav_flow.py", "modeling_token2wav_hift.py",
    # and the whole-VITS phoneme vocoder's (llama-omni-tiny's)
    "configuration_vits_vocoder.py", "modeling_vits_vocoder.py",
    # and the read-out adaptors' (llama-omni-tiny's)
    "lexicon_readout.py", "whisper_readout.py",
    "processor_config.json", "processing_llama_omni.py", "audio_llama_omni.py", "tokenizer.json",
    "tokenizer_config.json", "chat_template.jinja",
    "vocoder/config.json", "vocoder/model.safetensors", "vocoder/configuration_unit_vocoder.py",
    "vocoder/modeling_unit_vocoder.py",
}  # fmt: skip
LISTING_LINE = re.compile(r"^  +(\d+(?:\.\d+)? (?:B|kB|MB|GB))  (\S.*)$")

# The card's snippets run here with our packages unimportable (even through the editable install's finder): only
# the files of the dry-run folder can provide the classes (the approach of test_auto_and_remote_code.py).
BLOCKER = BLOCK_OUR_PACKAGES
EPILOGUE = textwrap.dedent(
    """
    print("\\n" + json.dumps({
        "model": type(model).__module__ + "." + type(model).__name__,
        "vocoder": type(vocoder).__module__,
        "ours_importable": any(m.split(".")[0] in OURS for m in sys.modules),
    }))
    """
)


def run_cli(*argv: str) -> tuple[int, str, str]:
    """`llama-omni ARGV` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(list(argv))
    return code, out.getvalue(), err.getvalue()


def listed_files(stdout: str) -> dict[str, str]:
    """{path: printed size} from a dry run's listing."""
    return {m.group(2): m.group(1) for m in map(LISTING_LINE.match, stdout.splitlines()) if m}


def files_on_disk(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def section(text: str, title: str) -> str:
    """The Markdown section `## title` of a card (up to the next `## `)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    assert match, f"no section {title!r}"
    return match.group(1)


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> Path:
    """A tiny trained-model folder as the trainer leaves it: model + processor + vocoder/, no remote code."""
    model, processor = tiny_model_and_processor()
    folder = tmp_path_factory.mktemp("hub") / "tiny-model"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    tiny_vocoder().save_pretrained(folder / "vocoder")
    return folder


@pytest.fixture(scope="module")
def eval_json(model_folder) -> Path:
    path = model_folder.parent / "eval.json"
    path.write_text(json.dumps(EVALUATION))
    return path


@pytest.fixture(scope="module")
def model_dry_run(model_folder, eval_json):
    """`llama-omni push model ... --dry-run DIR`: (folder, stdout)."""
    out = model_folder.parent / "dry-run-model"
    code, stdout, stderr = run_cli(
        "push", "model", str(model_folder), "--repo-id", REPO_ID, "--dry-run", str(out), "--eval-json", str(eval_json),
        "--base-model", BASE_MODELS[0], "--base-model", BASE_MODELS[1],
        "--recipe", "trainers/recipes/stage1_tiny.yaml", "--recipe", "stage2=trainers/recipes/stage2_tiny.yaml",
    )  # fmt: skip
    assert code == 0, stderr
    return out, stdout


@pytest.fixture(scope="module")
def data_build(tmp_path_factory) -> Path:
    """A finished data build (the real builder: seed instructions, a stand-in writer, fake voices and units)."""
    output = tmp_path_factory.mktemp("hub-data") / "build"
    config = BuildConfig(
        sources=[{"path": "seed", "split": "train", "limit": 4}, {"path": "seed", "split": "heldout", "limit": 2}],
        writer={"kind": "python", "factory": "tests.test_instructs2s:SeedFixtureWriter"},
        rewrite=False, respond=True,
        instruction_voices=["test:keyword"], response_voice="test:response",
        units={"extractor": "injected", "deduplicate": False},
        shard_size=10, output_dir=str(output),
    )  # fmt: skip
    voices = {"test:keyword": KeywordVoice("test:keyword"), "test:response": KeywordVoice("test:response")}
    build_dataset(config, voices=voices, unit_extractor=PeakUnits(), progress=False)
    return output


# ----------------------------------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------------------------------


def test_model_dry_run_writes_exactly_the_listed_files(model_dry_run, eval_json):
    out, stdout = model_dry_run
    listed = listed_files(stdout)
    on_disk = files_on_disk(out)
    assert set(listed) == set(on_disk) == MODEL_REPO_FILES
    assert all(listed[path] == human_size(size) for path, size in on_disk.items())
    assert f"would upload {len(on_disk)} files" in stdout and "nothing was uploaded" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoConfig": "configuration_llama_omni.LlamaOmniConfig",
        "AutoModel": "modeling_llama_omni.LlamaOmniForConditionalGeneration",
        "AutoModelForCausalLM": "modeling_llama_omni.LlamaOmniForConditionalGeneration",
        "AutoModelForMultimodalLM": "modeling_llama_omni.LlamaOmniForConditionalGeneration",
    }
    assert json.loads((out / "processor_config.json").read_text())["auto_map"] == {
        "AutoProcessor": "processing_llama_omni.LlamaOmniProcessor"
    }
    assert json.loads((out / "vocoder" / "config.json").read_text())["auto_map"]["AutoModel"] == (
        "modeling_unit_vocoder.UnitVocoder"
    )
    assert (out / "evaluation.json").read_bytes() == eval_json.read_bytes()
    source = eval_json.parent / "tiny-model"
    assert (out / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()


def test_model_card_parses_and_its_metadata_validates(model_dry_run):
    from transformers.pipelines import SUPPORTED_TASKS

    out, _ = model_dry_run
    card = ModelCard.load(out / "README.md")
    check_model_card(card)
    data = card.data
    assert data.library_name == "transformers"
    assert data.pipeline_tag == MODEL_PIPELINE_TAG and MODEL_PIPELINE_TAG in SUPPORTED_TASKS
    assert data.license == "apache-2.0"  # SmolLM2 and Whisper are both Apache-2.0
    assert data.base_model == BASE_MODELS and data.language == ["en"]
    # model-index: exactly the measured top-level metrics, with the file's values
    assert data.model_name == "Llama-omni-tiny"
    measured = {(r.metric_config, r.metric_value) for r in data.eval_results}
    assert measured == {("asr_wer", 0.0831), ("distillmos", 3.917)}
    assert {r.dataset_split for r in data.eval_results} == {"test"}
    evaluation = section(card.text, "Evaluation")
    assert "| ASR-WER | 8.31% |" in evaluation and "| distillMOS | 3.917 |" in evaluation
    assert "Time to first audio" not in evaluation  # null in the file: not measured, not shown
    assert "| 10 | 3.5 | not measured |" in evaluation and "| 40 | 4.25 | 0.5x |" in evaluation
    training = section(card.text, "Training")
    assert "Stage 1 (speech -> text)" in training and "Stage 2 (CTC speech decoder)" in training
    assert "llm_mode `full`" in training
    model = section(card.text, "Model")
    assert re.search(r"\| LLM \| llama: 2 layers, hidden 32, vocabulary \d+ \| [\d.]+K \|", model)


def test_model_card_without_evaluation_shows_no_numbers(model_folder):
    card = render_model_card(model_folder, REPO_ID, base_models=BASE_MODELS)
    assert card.data.eval_results is None and "model-index" not in card.content
    evaluation = section(card.text, "Evaluation")
    assert "No evaluation results were recorded" in evaluation
    assert not re.search(r"\d", evaluation)
    assert "No training recipe was recorded" in section(card.text, "Training")


def test_model_card_needs_a_licence_it_can_stand_behind(model_folder):
    with pytest.raises(CardError, match="--license"):
        render_model_card(model_folder, REPO_ID)  # no base model recorded, none given
    with pytest.raises(CardError, match="unknown"):
        render_model_card(model_folder, REPO_ID, base_models=["someone/unknown-llm"])
    card = render_model_card(model_folder, REPO_ID, base_models=["someone/unknown-llm"], license="mit",
                             datasets=["ICTNLP/InstructS2S-200K"])  # fmt: skip
    assert card.data.license == "mit" and card.data.datasets == ["ICTNLP/InstructS2S-200K"]
    assert "non-commercial" in section(card.text, "Licences")
    llama = render_model_card(model_folder, "me/omni", base_models=["meta-llama/Llama-3.1-8B-Instruct",
                                                                    "openai/whisper-large-v3"])  # fmt: skip
    assert llama.data.license == "llama3.1" and "Built with Llama" in llama.text
    assert "Llama" in llama_name_warning("me/omni", llama.data.license)
    assert llama_name_warning("me/Llama-omni", "llama3.1") is None


def test_check_model_card_rejects_bad_metadata():
    bad = ModelCard(
        "---\nlibrary_name: keras\npipeline_tag: speech-magic\nlicense: free-for-all\nbase_model: not an id\n"
        "language: English\n---\n\nbody\n"
    )
    with pytest.raises(CardError) as error:
        check_model_card(bad)
    for problem in ("library_name", "pipeline_tag", "license", "base_model", "language"):
        assert problem in str(error.value)


def test_front_matter_is_read_with_huggingface_hub():
    front, body = split_front_matter("---\ntitle: Talk\nmodels: [me/x]\npinned: false\n---\n# Talk\nHello.\n")
    assert front == {"title": "Talk", "models": ["me/x"], "pinned": False} and body == "# Talk\nHello.\n"
    assert split_front_matter("# No front matter\n") == ({}, "# No front matter\n")
    with pytest.raises(CardError, match="YAML mapping"):
        split_front_matter("---\n- a list\n---\nbody\n")
    with pytest.raises(CardError, match="not YAML"):
        split_front_matter("---\ntitle: [unclosed\n---\nbody\n")


def test_converted_checkpoint_card(model_folder):
    card = render_converted_card(model_folder, "me/Llama-3.1-8B-Omni-hf")
    check_model_card(card)
    assert card.data.license == "llama3.1" and card.data.base_model == ["ICTNLP/Llama-3.1-8B-Omni"]
    assert "converted" in card.data.tags
    assert "Built with Llama" in card.text and "academic research" in card.text
    changes = section(card.text, "What changed")
    assert "omni_speech2s_llama" in changes and "`vocoder/`" in changes
    assert "No evaluation of the converted checkpoint" in section(card.text, "Evaluation")


def test_usage_snippet_runs_through_remote_code(model_dry_run, tmp_path):
    """The card's ```python blocks, as written, against the dry-run folder, in an interpreter without our packages."""
    out, _ = model_dry_run
    text = (out / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3 and all(f'"{REPO_ID}"' in b or "model.generate" in b for b in blocks)
    assert blocks[0].lstrip().startswith("import soundfile") and 'pipeline("any-to-any"' in blocks[0]
    # the question's user turn carries the text of the processor's default instruction around the audio
    assert '{"type": "audio", "path": "question.wav"},\n    {"type": "text", "text": "\\nPlease directly' in blocks[0]
    snippet = "\n".join(blocks).replace(f'"{REPO_ID}"', repr(str(out)))
    assert "model.stream(" in snippet and "trust_remote_code=True" in snippet
    sf.write(tmp_path / "question.wav", make_speech(2.0, sr=22050), 22050)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run(
        [sys.executable, "-I", "-c", BLOCKER + snippet + EPILOGUE],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    *printed, last = result.stdout.strip().splitlines()
    info = json.loads(last)
    assert info["ours_importable"] is False
    assert info["model"].startswith("transformers_modules.") and info["vocoder"].startswith("transformers_modules.")
    assert "".join(printed).strip()  # the streamed text and the offline answer
    for name in ("answer_pipeline.wav", "answer.wav", "answer_full.wav"):
        audio, rate = sf.read(tmp_path / name)
        assert rate == 16000 and audio.size > 0 and np.abs(audio).max() > 0


def test_push_without_dry_run_offline_fails_clearly(model_folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = set(os.listdir(model_folder.parent))
    code, stdout, stderr = run_cli("push", "model", str(model_folder), "--repo-id", REPO_ID)
    assert code == 2 and stdout == ""
    assert "offline mode is on" in stderr and "--dry-run DIR" in stderr
    assert set(os.listdir(model_folder.parent)) == before  # nothing built, nothing left behind


def test_push_uploads_the_built_folder_in_one_mirroring_commit(model_folder, monkeypatch):
    """Without --dry-run: the same folder is built in a staging folder, the repository is created and the folder is
    uploaded with huggingface_hub (a recording stand-in for HfApi here: no network), then the staging folder goes."""
    import huggingface_hub
    from huggingface_hub import constants

    calls = []

    class RecordingApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", repo_id, kwargs))

        def upload_folder(self, *, folder_path, **kwargs):
            calls.append(("upload_folder", files_on_disk(Path(folder_path)), kwargs))

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    before = set(os.listdir(model_folder.parent))
    code, stdout, stderr = run_cli("push", "model", str(model_folder), "--repo-id", REPO_ID, "--private",
                                   "--base-model", BASE_MODELS[0], "--base-model", BASE_MODELS[1])  # fmt: skip
    assert code == 0, stderr
    (_, repo_id, create_kwargs), (_, uploaded, upload_kwargs) = calls
    assert repo_id == REPO_ID and create_kwargs["repo_type"] == "model" and create_kwargs["private"] is True
    assert create_kwargs["exist_ok"] is True
    assert set(uploaded) == MODEL_REPO_FILES - {"evaluation.json"}
    assert upload_kwargs["repo_id"] == REPO_ID and upload_kwargs["delete_patterns"] == "*"
    assert set(listed_files(stdout)) == set(uploaded) and "uploaded" in stdout
    assert set(os.listdir(model_folder.parent)) == before  # the staging folder is gone


def test_push_refuses_bad_inputs(model_folder, tmp_path):
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    code, _, stderr = run_cli("push", "model", str(model_folder), "--repo-id", REPO_ID, "--dry-run", str(occupied),
                              "--base-model", BASE_MODELS[0])  # fmt: skip
    assert code == 2 and "not an empty folder" in stderr and os.listdir(occupied) == ["keep.txt"]

    no_vocoder = tmp_path / "no-vocoder"
    shutil.copytree(model_folder, no_vocoder, ignore=shutil.ignore_patterns("vocoder"))
    code, _, stderr = run_cli("push", "model", str(no_vocoder), "--repo-id", REPO_ID, "--dry-run",
                              str(tmp_path / "a"), "--base-model", BASE_MODELS[0])  # fmt: skip
    assert code == 2 and "--vocoder DIR" in stderr and not (tmp_path / "a").exists()

    code, _, stderr = run_cli("push", "model", str(model_folder), "--repo-id", "not a repo", "--dry-run",
                              str(tmp_path / "b"))  # fmt: skip
    assert code == 2 and "--repo-id" in stderr

    bad_eval = tmp_path / "bad.json"
    bad_eval.write_text(json.dumps({"eval_set": "x", "metrics": {"asr_wer": "low"}}))
    code, _, stderr = run_cli("push", "model", str(model_folder), "--repo-id", REPO_ID, "--dry-run",
                              str(tmp_path / "c"), "--eval-json", str(bad_eval), "--license", "mit")  # fmt: skip
    assert code == 2 and "metrics.asr_wer must be a finite number" in stderr and not (tmp_path / "c").exists()


# ----------------------------------------------------------------------------------------------------------------------
# Evaluation report schema
# ----------------------------------------------------------------------------------------------------------------------


def test_eval_report_schema(tmp_path):
    report = parse_eval_report(EVALUATION)
    assert report.metrics == {"asr_wer": 0.0831, "distillmos": 3.917}  # null = not measured: dropped
    assert report.per_omega == ((10, {"distillmos": 3.5}), (40, {"distillmos": 4.25, "rtf": 0.5}))
    assert report.eval_set.hub_type == "seed-held-out"
    bad = [
        ({"metrics": {"asr_wer": 0.1}}, "eval_set is required"),
        ({"eval_set": "x"}, "metrics is required"),
        ({"eval_set": "x", "metrics": {"asr_wer": True}}, "finite number"),
        ({"eval_set": "x", "metrics": {"asr_wer": float("nan")}}, "finite number"),
        ({"eval_set": "x", "metrics": {"ASR WER": 0.1}}, "lower-case identifiers"),
        ({"eval_set": "x", "metrics": {"asr_wer": None}}, "no measured value"),
        ({"eval_set": "x", "metrics": {}, "per_omega": [{"omega": 0, "ttfa_s": 1.0}]}, "positive int"),
        ({"eval_set": "x", "metrics": {}, "per_omega": [{"omega": 5, "ttfa_s": 1}, {"omega": 5, "ttfa_s": 2}]},
         "appears twice"),
        ({"eval_set": "x", "metrics": {"asr_wer": 0.1}, "score": 3}, "unknown key"),
        ({"eval_set": {"split": "test"}, "metrics": {"asr_wer": 0.1}}, "eval_set.name is required"),
        ({"schema_version": 2, "eval_set": "x", "metrics": {"asr_wer": 0.1}}, "schema_version"),
    ]  # fmt: skip
    for data, message in bad:
        with pytest.raises(EvalReportError, match=message):
            parse_eval_report(data)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(EvalReportError, match="not JSON"):
        load_eval_report(broken)
    with pytest.raises(FileNotFoundError):
        load_eval_report(tmp_path / "missing.json")


# ----------------------------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------------------------


def test_dataset_dry_run_card_and_files(data_build, tmp_path):
    out = tmp_path / "dry-run-dataset"
    code, stdout, stderr = run_cli("push", "dataset", str(data_build), "--repo-id", "me/instructs2s-tiny",
                                   "--dry-run", str(out))  # fmt: skip
    assert code == 0, stderr
    on_disk = files_on_disk(out)
    listed = listed_files(stdout)
    assert set(listed) == set(on_disk)
    assert all(listed[path] == human_size(size) for path, size in on_disk.items())
    assert set(on_disk) == {"README.md", "build_report.json", "rejected.jsonl",
                            "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"}  # fmt: skip

    card = DatasetCard.load(out / "README.md")
    data = card.data
    report = json.loads((data_build / "build_report.json").read_text())
    assert data.license == "apache-2.0"  # the seed instructions are the only source
    assert data.language == ["en"] and data.size_categories == ["n<1K"]
    assert [s["name"] for s in data.dataset_info["splits"]] == ["train", "test"]
    assert {s["name"]: s["num_examples"] for s in data.dataset_info["splits"]} == {
        s: c["kept"] for s, c in report["counts"]["splits"].items()
    }
    original = datasets.load_from_disk(str(data_build))
    assert [f["name"] for f in data.dataset_info["features"]] == list(original["train"].features)
    contents = section(card.text, "Contents")
    for split, counts in report["counts"]["splits"].items():
        assert f"| {split} | {counts['kept']} | {counts['read']} | {counts['rejected']} |" in contents
    voices = section(card.text, "Voices")
    for name, count in report["voices"]["instruction"].items():
        assert f"| `{name}` | question | {count} | not known to this card | unknown |" in voices

    # the folder is a loadable dataset repository: same rows, audio embedded
    published = datasets.load_dataset(str(out))
    for split in original:
        assert published[split]["id"] == original[split]["id"]
        assert published[split]["response_units"] == original[split]["response_units"]
        np.testing.assert_allclose(published[split][0]["speech_response"]["array"],
                                   original[split][0]["speech_response"]["array"])  # fmt: skip
    assert str(data_build) not in (out / "build_report.json").read_text()  # no local paths published
    assert "output_dir" not in json.loads((out / "build_report.json").read_text())


def test_dataset_licence_follows_the_sources(data_build, tmp_path):
    copy = tmp_path / "build"
    shutil.copytree(data_build, copy)
    report = json.loads((copy / "build_report.json").read_text())
    report["sources"][0]["path"] = "tatsu-lab/alpaca"
    (copy / "build_report.json").write_text(json.dumps(report))
    card = render_dataset_card(copy, "me/instructs2s-mixed")
    assert card.data.license == ["apache-2.0", "cc-by-nc-4.0"]
    assert card.data.source_datasets == ["tatsu-lab/alpaca"]
    licences = section(card.text, "Licences")
    assert "no commercial use" in licences and "may not be used commercially" in licences

    report["sources"][0]["path"] = "/data/my_questions.jsonl"
    (copy / "build_report.json").write_text(json.dumps(report))
    with pytest.raises(CardError, match="--license"):
        render_dataset_card(copy, "me/instructs2s-mixed")
    assert render_dataset_card(copy, "me/instructs2s-mixed", license="cc-by-4.0").data.license == "cc-by-4.0"


# ----------------------------------------------------------------------------------------------------------------------
# Space
# ----------------------------------------------------------------------------------------------------------------------


def test_space_dry_run_card_and_files(tmp_path):
    import importlib.metadata

    space = tmp_path / "space"
    (space / "__pycache__").mkdir(parents=True)
    (space / "app.py").write_text("import gradio as gr\n")
    (space / "requirements.txt").write_text("soundfile\n")
    (space / ".env").write_text("HF_TOKEN=secret\n")
    (space / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (space / "README.md").write_text("---\ntitle: Talk to LLaMA-Omni\nemoji: 🦙\nsdk: gradio\nsdk_version: 4.0.0\n"
                                     "---\n\n# Talk to LLaMA-Omni\n\nAsk with your voice.\n")  # fmt: skip
    out = tmp_path / "dry-run-space"
    code, stdout, stderr = run_cli("push", "space", str(space), "--repo-id", "me/llama-omni-demo",
                                   "--model", REPO_ID, "--dry-run", str(out), "--no-package-wheel")  # fmt: skip
    assert code == 0, stderr
    assert set(listed_files(stdout)) == set(files_on_disk(out)) == {"README.md", "app.py", "requirements.txt"}
    card = SpaceCard.load(out / "README.md")
    data = card.data
    assert data.sdk == "gradio" and data.app_file == "app.py" and data.models == [REPO_ID]
    assert data.sdk_version == GRADIO_SDK_VERSION == importlib.metadata.version("gradio")
    assert data.title == "Talk to LLaMA-Omni" and data.get("emoji") == "🦙" and data.license == "apache-2.0"
    assert "Ask with your voice." in card.text
    code, _, stderr = run_cli("push", "space", str(tmp_path), "--repo-id", "me/x", "--dry-run", str(tmp_path / "e"))
    assert code == 2 and "app.py" in stderr


def test_space_of_this_project_ships_the_package_wheel(tmp_path):
    """`push space space/`: the app file, its requirements and the project's wheel, whose line installs it; the
    Space package's other modules come with the wheel."""
    import hashlib
    import zipfile

    space = ROOT / "space"
    out = tmp_path / "dry-run-space"
    code, stdout, stderr = run_cli("push", "space", str(space), "--repo-id", "me/llama-omni-demo", "--dry-run",
                                   str(out))  # fmt: skip
    assert code == 0, stderr
    files = set(files_on_disk(out))
    wheels = [f for f in files if f.startswith("wheels/")]
    assert len(wheels) == 1 and wheels[0].endswith("-py3-none-any.whl"), files
    assert files - set(wheels) == {"README.md", "app.py", "requirements.txt", "packages.txt"}, files
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert requirements[:-1] == (space / "requirements.txt").read_text().splitlines()
    digest = hashlib.sha256((out / wheels[0]).read_bytes()).hexdigest()
    assert requirements[-1] == (f"llama-omni-hf @ https://huggingface.co/spaces/me/llama-omni-demo/resolve/main/"
                                f"{wheels[0]}#sha256={digest}")
    names = set(zipfile.ZipFile(out / wheels[0]).namelist())
    assert {"space/app.py", "space/chat_page.py", "inference/runtime.py", "modeling_llama_omni/__init__.py",
            "offline_assets/llama_omni_tiny/model.safetensors"} <= names
    assert not any(name.startswith("tests/") for name in names)
    assert not (ROOT / "build").exists()
