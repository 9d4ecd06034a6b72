"""The InstructS2S builder: a 50-example offline build from the tiny recipe, kill-and-resume, corrupted shards,
validation counts, recipe errors; (slow) parallel workers and the Whisper round trip."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from processing.instructs2s import (
    BuildConfig,
    BuildConfigError,
    build_dataset,
    data_main,
    push_to_hub,
    validate_audio,
)
from processing.instructs2s.builder import STOP_AFTER_ENV, STOP_EXIT_CODE
from processing.instructs2s.shards import BUILD_DIR, MANIFEST_NAME, REJECTED_NAME, REPORT_NAME
from processing.instructs2s.sources import read_seed_instructions
from processing.instructs2s.text_normalizer import check_speakable, normalize_for_speech
from offline_assets.tts import TTSVoice
from processing.instructs2s.writers import REWRITE_SYSTEM_PROMPT, Writer
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_whisper_config

ROOT = Path(__file__).resolve().parents[1]
TINY_RECIPE = ROOT / "processing" / "instructs2s" / "recipes" / "instructs2s_tiny.yaml"
PAPER_RECIPE = ROOT / "processing" / "instructs2s" / "recipes" / "instructs2s_paper.yaml"
COLUMNS = ["id", "source", "instruction", "speech_instruction", "instruction_voice", "response", "speech_response",
           "response_units"]

needs_tts = pytest.mark.skipif(shutil.which("flite") is None or shutil.which("espeak-ng") is None,
                               reason="flite / espeak-ng are not installed")


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


class SeedFixtureWriter(Writer):
    """A stand-in for the LLM (the builder is under test, not the LLM): the rewrite of a request is the request
    itself; the response to a seed question is its reference answer in a sentence (or a fixed sentence)."""

    batch_size = 8

    def __init__(self) -> None:
        self.answers = {}
        for record in read_seed_instructions("all"):
            for text in (record["instruction"], normalize_for_speech(record["instruction"])):
                self.answers[_key(text)] = record.get("answer")

    def complete(self, conversations, max_new_tokens=256, temperature=0.0, seed=None):
        replies = []
        for conversation in conversations:
            user = conversation[-1]["content"]
            if conversation[0]["content"] == REWRITE_SYSTEM_PROMPT:
                replies.append(user.split("Request:", 1)[1].strip())
                continue
            answer = self.answers.get(_key(user))
            replies.append(f"The answer is {answer}." if answer else
                           "That is a good question. The simple answer is to start small and keep going.")
        return replies


@pytest.fixture(scope="module")
def tiny_whisper_dir(tmp_path_factory):
    from transformers import WhisperConfig, WhisperModel

    torch.manual_seed(0)
    config = WhisperConfig(**{k: v for k, v in tiny_whisper_config().items() if k != "model_type"})
    folder = tmp_path_factory.mktemp("tiny_whisper")
    WhisperModel(config).save_pretrained(folder)
    return str(folder)


def tiny_recipe(output_dir, tiny_whisper_dir, **overrides) -> dict:
    """The repo's tiny recipe, made fast for tests: the fixture writer, flite for the responses, and a k-means
    extractor fitted during the build on a tiny random Whisper encoder (the mechanics, not the unit quality)."""
    recipe = yaml.safe_load(TINY_RECIPE.read_text())
    recipe.update(
        writer={"kind": "python", "factory": "tests.test_instructs2s:SeedFixtureWriter"},
        response_voice="flite:kal16",
        units={"fit": {"encoder": tiny_whisper_dir, "layer": 2, "num_units": 16, "minutes": 1}, "deduplicate": True},
        output_dir=str(output_dir),
    )
    recipe.update(overrides)
    return recipe


def column_values(dataset, split):
    """Every column of a split, audio as its stored bytes."""
    import datasets

    part = dataset[split]
    for column in ("speech_instruction", "speech_response"):
        part = part.cast_column(column, datasets.Audio(decode=False))
    return {c: [x["bytes"] if isinstance(x, dict) else x for x in part[c]] for c in part.column_names}


def assert_same_dataset(a, b):
    assert sorted(a) == sorted(b)
    for split in a:
        values_a, values_b = column_values(a, split), column_values(b, split)
        assert list(values_a) == list(values_b)
        for column in values_a:
            assert values_a[column] == values_b[column], f"{split}.{column} differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_whisper_dir):
    """The tiny recipe's 50 examples, built uninterrupted in this process."""
    if shutil.which("flite") is None or shutil.which("espeak-ng") is None:
        pytest.skip("flite / espeak-ng are not installed")
    output = tmp_path_factory.mktemp("reference") / "data"
    return build_dataset(tiny_recipe(output, tiny_whisper_dir), progress=False)


# ---------------------------------------------------------------------------------------------------------


@needs_tts
def test_tiny_recipe_builds_50_examples_offline(reference):
    import datasets

    output = Path(reference.output_dir)
    dataset = datasets.load_from_disk(str(output))
    assert isinstance(dataset, datasets.DatasetDict) and sorted(dataset) == ["test", "train"]
    report = json.loads((output / REPORT_NAME).read_text())
    counts = report["counts"]
    assert counts["read"] == 50 and report["complete"]
    assert counts["splits"]["train"]["read"] == 45 and counts["splits"]["test"]["read"] == 5
    rejected = sum(sum(reasons.values()) for reasons in report["rejected"].values())
    assert counts["kept"] + rejected == counts["read"] == counts["kept"] + counts["rejected"]
    assert counts["kept"] == len(dataset["train"]) + len(dataset["test"]) >= 40
    for split, c in counts["splits"].items():
        assert c["kept"] == len(dataset[split]) and c["kept"] + c["rejected"] == c["read"]
    lines = (output / REJECTED_NAME).read_text().splitlines()
    assert len(lines) == rejected and all(json.loads(line)["step"] in report["rejected"] for line in lines)

    recipe_voices = set(yaml.safe_load(TINY_RECIPE.read_text())["instruction_voices"])
    for split in dataset:
        part = dataset[split]
        assert part.column_names == COLUMNS
        assert part.features["speech_instruction"].sampling_rate == 16000
        assert part.features["speech_response"].sampling_rate == 16000
        assert len(set(part["id"])) == len(part)
        for example in part:
            for column in ("speech_instruction", "speech_response"):
                audio = example[column]
                assert audio["sampling_rate"] == 16000
                array = np.asarray(audio["array"])
                assert array.ndim == 1 and array.size > 0.3 * 16000 and np.abs(array).max() > 0.01
            units = example["response_units"]
            assert len(units) > 0 and all(isinstance(u, int) and 0 <= u < 16 for u in units)
            assert all(a != b for a, b in zip(units, units[1:]))  # deduplicated
            assert example["instruction_voice"] in recipe_voices
            assert example["source"] == "seed"
            assert check_speakable(example["instruction"]) is None and check_speakable(example["response"]) is None
    voices = report["voices"]["instruction"]
    assert len(voices) >= 4 and sum(voices.values()) == counts["kept"]
    assert report["units"]["num_units"] == 16 and report["units"]["fitted_during_build"]
    assert (output / "unit_extractor" / "centroids.safetensors").is_file()
    assert {"rewrite", "respond", "tts_instruction", "tts_response", "units"} <= set(report["timings"]["steps_seconds"])
    assert report["shards"]["total"] == 6 and report["shards"]["built_this_run"] == 12  # 6 speech + 6 unit shards

    # The factual seed questions got their reference answers, and the rerun of a finished build is a no-op.
    assert any(r.startswith("The answer is ") for r in dataset["train"]["response"])
    again = build_dataset(BuildConfig.from_dict(reference.report["config"]), progress=False)
    assert again.report == reference.report


@needs_tts
def test_killed_build_resumes_to_the_same_dataset(reference, tiny_whisper_dir, tmp_path):
    """A real `llama-omni data build` process stops abruptly (os._exit) after two shards; the rerun finishes the
    rest only, and the result equals the uninterrupted build, column by column (audio bytes included)."""
    import datasets

    output = tmp_path / "data"
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(yaml.safe_dump(tiny_recipe(output, tiny_whisper_dir)))
    command = [sys.executable, "-m", "llama_omni_cli", "data", "build", "--config", str(recipe_path), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", **{STOP_AFTER_ENV: "2"})
    killed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == STOP_EXIT_CODE, killed.stderr[-3000:]
    finished = sorted(p.name for p in (output / BUILD_DIR / "speech").iterdir() if (p / MANIFEST_NAME).is_file())
    assert finished == ["train-00000", "train-00001"]
    assert not (output / "dataset_dict.json").exists() and not (output / REPORT_NAME).exists()

    # The rerun (here in this process, from the same recipe file) does the other shards only.
    assert os.environ.get(STOP_AFTER_ENV) is None
    resumed = build_dataset(recipe_path, progress=False)
    report = json.loads((output / REPORT_NAME).read_text())
    assert resumed.report == report
    assert report["shards"]["reused_speech"] == 2 and report["shards"]["built_this_run"] == 4 + 6
    assert report["counts"] == reference.report["counts"] and report["rejected"] == reference.report["rejected"]
    assert_same_dataset(datasets.load_from_disk(str(output)), reference.dataset)


@needs_tts
def test_corrupted_or_half_written_shards_are_never_read(reference, tmp_path):
    import datasets

    output = tmp_path / "data"
    shutil.copytree(reference.output_dir, output)
    (output / REPORT_NAME).unlink()  # the build is "unfinished"
    build = output / BUILD_DIR
    # a shard that was being written when the process died (temporary name), full of garbage
    half = build / "units" / ".train-00002.tmp-999999-deadbeef"
    shutil.copytree(build / "units" / "train-00002", half)
    (half / "data-00000-of-00001.arrow").write_bytes(b"garbage")
    # a finished speech shard whose data file was cut short afterwards
    arrow = build / "speech" / "train-00001" / "data-00000-of-00001.arrow"
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    # a unit shard under its final name but without a manifest (never finished), with garbage inside
    (build / "units" / "train-00003" / MANIFEST_NAME).unlink()
    (build / "units" / "train-00003" / "data-00000-of-00001.arrow").write_bytes(b"\x00" * 100)

    config = BuildConfig.from_dict(dict(reference.report["config"], output_dir=str(output)))
    result = build_dataset(config, progress=False)
    shards = result.report["shards"]
    assert shards["reused_speech"] == 5 and shards["reused_units"] <= 5
    assert not half.exists()
    assert result.report["counts"] == reference.report["counts"]
    assert_same_dataset(datasets.load_from_disk(str(output)), reference.dataset)

    # The same folder with another recipe is refused rather than mixed.
    with pytest.raises(BuildConfigError, match="another"):
        build_dataset(dict(reference.report["config"], output_dir=str(output), seed=1), progress=False)


# ---------------------------------------------------------------------------------------------------------
# Validation


def test_validate_audio_reasons():
    speech = make_speech(2.0)
    assert validate_audio(speech) is None
    assert validate_audio(np.zeros(0, np.float32)) == "empty audio"
    assert validate_audio(np.stack([speech, speech])) == "not mono"
    assert validate_audio(np.full(16000, np.nan, np.float32)) == "not finite"
    assert validate_audio(np.zeros(32000, np.float32)) == "silent"
    assert validate_audio(speech * 1e-4) == "silent"
    assert validate_audio(np.sign(speech)) == "clipped"
    assert validate_audio(speech * 3) == "clipped"
    assert validate_audio(make_speech(0.1)) == "too short"
    assert validate_audio(make_speech(31.0)) == "too long"
    assert validate_audio(make_speech(31.0), max_seconds=None) is None


class KeywordVoice(TTSVoice):
    """A fake voice: silent for "quiet", clipped for "loud", 40 s for "long", peak 0.25 for "swan", else 1 s."""

    def __init__(self, name: str):
        self.name = name

    def synthesize(self, text: str) -> np.ndarray:
        words = set(_key(text).split())
        if "quiet" in words:
            return np.zeros(16000, np.float32)
        if "loud" in words:
            return np.sign(make_speech(1.0))
        if "long" in words:
            return make_speech(40.0)
        audio = make_speech(1.0, seed=len(text))
        return audio * 0.5 if "swan" in words else audio


class PeakUnits:
    """A stand-in unit extractor: no units for the "swan" response (peak 0.25), else three units."""

    batch_size = 4
    num_units = 3

    def extract_batch(self, audios, sampling_rate=16000, deduplicate=None):
        return [[] if abs(float(np.abs(a).max()) - 0.25) < 1e-3 else [0, 1, 2] for a in audios]


def test_validation_rejects_and_counts_by_reason(tmp_path):
    rows = [
        ("What is the capital of France?", "The capital of France is Paris."),
        ("Why is a quiet library so calm?", "People keep their voices down there."),
        ("How loud can a trumpet get?", "Very loud, louder than most people like."),
        ("Can you tell me a long story about dragons?", "Once upon a time there was a kind dragon."),
        ("What is a mute swan?", "A mute swan is a large white bird."),
        ("Could you read https://example.com to me?", "I cannot open links."),
        ("What should I pack for a picnic?", ""),
        ("How do I sort a list in code?", "```python\nsorted(items)\n```"),
        ("How many legs does a spider have?", "A spider has eight legs."),
    ]
    source = tmp_path / "questions.jsonl"
    source.write_text("".join(json.dumps({"question": q, "output": a}) + "\n" for q, a in rows))
    config = BuildConfig(
        sources=[{"path": str(source), "response_column": "output", "name": "fixture"}],
        rewrite=False, respond=False,
        instruction_voices=["test:keyword"], response_voice="test:response",
        units={"extractor": "injected", "deduplicate": False},
        validation={"max_instruction_seconds": 10.0},
        shard_size=4, output_dir=str(tmp_path / "out"),
    )  # fmt: skip
    voices = {"test:keyword": KeywordVoice("test:keyword"), "test:response": KeywordVoice("test:response")}
    result = build_dataset(config, voices=voices, unit_extractor=PeakUnits(), progress=False)
    report = result.report
    assert report["rejected"]["instruction_text"] == {"contains a URL": 1}
    assert report["rejected"]["response_text"]["no response in the source"] == 1
    assert sum(report["rejected"]["response_text"].values()) == 2
    assert report["rejected"]["instruction_speech"] == {"clipped": 1, "silent": 1, "too long": 1}
    assert report["rejected"]["units"] == {"empty units": 1}
    assert report["counts"]["read"] == 9 and report["counts"]["kept"] == 2 and report["counts"]["rejected"] == 7
    kept = result.dataset["train"]
    assert sorted(kept["instruction"]) == ["How many legs does a spider have?", "What is the capital of France?"]
    assert list(kept["source"]) == ["fixture"] * 2 and kept[0]["response_units"] == [0, 1, 2]
    lines = [json.loads(x) for x in (tmp_path / "out" / REJECTED_NAME).read_text().splitlines()]
    assert len(lines) == 7 and {x["step"] for x in lines} == {"instruction_text", "response_text",
                                                                "instruction_speech", "units"}


# ---------------------------------------------------------------------------------------------------------
# Recipe errors


def test_recipes_parse_and_bad_recipes_are_refused(tmp_path):
    tiny = BuildConfig.from_yaml(TINY_RECIPE)
    assert tiny.limit == 50 and tiny.writer.kind == "smollm2" and tiny.units.fit.layer == 4
    assert [s.target_split for s in tiny.sources] == ["train", "test"]
    paper = BuildConfig.from_yaml(PAPER_RECIPE)
    assert paper.writer.kind == "openai" and paper.units.extractor and paper.units.fit is None
    assert BuildConfig.from_dict(tiny.to_dict()) == tiny

    with pytest.raises(BuildConfigError, match="did you mean 'shard_size'"):
        BuildConfig.from_dict({"sources": ["seed"], "shard_szie": 3})
    with pytest.raises(BuildConfigError, match=r"writer.*did you mean 'kind'"):
        BuildConfig.from_dict({"writer": {"knd": "smollm2"}})
    with pytest.raises(BuildConfigError, match="missing unit extractor"):
        BuildConfig.from_dict({"units": {"deduplicate": True}})
    with pytest.raises(BuildConfigError, match="base_url"):
        BuildConfig.from_dict({"writer": {"kind": "openai", "model": "m"}})
    with pytest.raises(BuildConfigError, match="environment variable"):
        BuildConfig.from_dict({"writer": {"kind": "openai", "model": "m", "base_url": "http://x",
                                          "api_key_env": "sk-123 secret"}})
    with pytest.raises(BuildConfigError, match="voice"):
        BuildConfig.from_dict({"instruction_voices": ["slt"]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [seed]\nnum_procs: 2\n")
    with pytest.raises(BuildConfigError, match="did you mean 'num_proc'"):
        BuildConfig.from_yaml(bad)
    assert data_main(["build", "--config", str(bad)]) == 2
    with pytest.raises(FileNotFoundError):
        BuildConfig.from_yaml(tmp_path / "nope.yaml")

    base = {"writer": {"kind": "python", "factory": "tests.test_instructs2s:SeedFixtureWriter"},
            "units": {"extractor": "none"}, "output_dir": str(tmp_path / "out")}
    with pytest.raises(BuildConfigError, match="unknown voice 'flite:nobody'"):
        build_dataset(dict(base, instruction_voices=["flite:nobody"]), progress=False)
    with pytest.raises(BuildConfigError, match="unknown voice 'nobody:x'"):
        build_dataset(dict(base, response_voice="nobody:x"), progress=False)
    with pytest.raises(FileNotFoundError, match="missing unit extractor"):
        build_dataset(dict(base, units={"extractor": str(tmp_path / "no_extractor")}), progress=False)
    with pytest.raises(FileNotFoundError, match="no such file"):
        build_dataset(dict(base, sources=[str(tmp_path / "missing.jsonl")]), progress=False)
    with pytest.raises(BuildConfigError, match="cannot import"):
        build_dataset(dict(base, writer={"kind": "python", "factory": "no_such_module:make"}), progress=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE"):
            push_to_hub(tmp_path / "out", "someone/instructs2s")


def test_command_line_flags_override_the_recipe(tmp_path):
    """`llama-omni data build` parses the recipe and its flags with TrlParser: the file gives the values, the flags
    override them; unknown keys (file) and flags are refused clearly."""
    from processing.instructs2s.cli import parse_build_args

    argv = ["--config", str(TINY_RECIPE), "--limit", "7", "--output", str(tmp_path / "o"), "--num-proc", "2",
            "--seed", "3", "--no-progress", "--overwrite"]
    config, args = parse_build_args(argv)
    assert config == BuildConfig.from_yaml(TINY_RECIPE, limit=7, output_dir=str(tmp_path / "o"), num_proc=2, seed=3)
    assert args.overwrite and not args.progress and args.push_to_hub is None
    assert parse_build_args([f"--config={TINY_RECIPE}"])[0] == BuildConfig.from_yaml(TINY_RECIPE)

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [seed]\nshard_szie: 3\n")
    with pytest.raises(BuildConfigError, match="did you mean 'shard_size'"):
        parse_build_args(["--config", str(bad)])
    with pytest.raises(BuildConfigError, match="unknown argument"):
        parse_build_args(["--config", str(TINY_RECIPE), "--shard-szie", "3"])
    with pytest.raises(BuildConfigError, match="--limit"):
        parse_build_args(["--config", str(TINY_RECIPE), "--limit", "many"])
    with pytest.raises(BuildConfigError, match="--config"):
        parse_build_args(["--limit", "3"])
    with pytest.raises(FileNotFoundError):
        parse_build_args(["--config", str(tmp_path / "nope.yaml")])


# ---------------------------------------------------------------------------------------------------------
# Slow: parallel workers, the Whisper round trip


@pytest.mark.slow
@needs_tts
def test_parallel_workers_give_the_same_dataset(reference, tmp_path):
    """num_proc=2 (spawned workers, each loading its own writer / voices / extractor) rebuilds missing shards
    identically."""
    import datasets

    output = tmp_path / "data"
    shutil.copytree(reference.output_dir, output)
    (output / REPORT_NAME).unlink()
    for stage in ("speech", "units"):
        for name in ("train-00001", "train-00003", "test-00000"):
            shutil.rmtree(output / BUILD_DIR / stage / name)
    config = dict(reference.report["config"], output_dir=str(output), num_proc=2)
    result = build_dataset(config, progress=False)
    assert result.report["shards"]["reused_speech"] == 3 and result.report["shards"]["built_this_run"] == 6
    assert result.report["config_fingerprint"] == reference.report["config_fingerprint"]
    assert_same_dataset(datasets.load_from_disk(str(output)), reference.dataset)


@pytest.mark.slow
@needs_tts
def test_round_trip_whisper_base_wer(tmp_path):
    """Whisper-base transcribes the synthesized instructions and responses of a built set: WER <= 10 %."""
    pytest.importorskip("onnxruntime")
    spec = importlib.util.spec_from_file_location("data_roundtrip", ROOT / "benchmarks" / "data_roundtrip.py")
    roundtrip = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(roundtrip)
    try:
        result = roundtrip.run(num_examples=12, output_dir=tmp_path / "data", writer="fixture", progress=False)
    except (ModuleNotFoundError, FileNotFoundError) as error:  # an offline asset package is missing
        pytest.skip(str(error))
    assert result["examples"] >= 10
    # Corpus WER over all the speech of the set (instructions: six voices, short questions with rare words;
    # responses: Piper joe); per voice is reported by benchmarks/data_roundtrip.py (1-3 clips per voice here).
    assert result["wer"]["all"] <= 0.10, result
    assert result["wer"]["instructions"] <= 0.20 and result["wer"]["responses"] <= 0.05, result
