"""Stage-1 / stage-2 training on tiny models: data, CLI + YAML recipes, freezing, overfitting, resume, two-process
data parallelism, LoRA, encoder-output caching, saved folders that load and generate."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from transformers import TrainerCallback

from tests.tiny_components import make_speech
from tests.tiny_models import tiny_model_and_processor

datasets = pytest.importorskip("datasets")

import modeling_llama_omni  # noqa: E402,F401  (Auto registration)
from modeling_llama_omni import LlamaOmniForConditionalGeneration  # noqa: E402
from processing import LlamaOmniProcessor  # noqa: E402
from llama_omni_cli import main as cli_main  # noqa: E402
from trainers.stages.common import unwrapped_llama_omni  # noqa: E402
from trainers.stages.collator import IGNORE_INDEX, LlamaOmniCollator, SpeechInstructionEncoder  # noqa: E402
from trainers.stages.stage1 import LlamaOmniStage1Trainer, Stage1Config  # noqa: E402
from trainers.stages.stage2 import LlamaOmniStage2Trainer, Stage2Config  # noqa: E402
from trainers.scripts.train import build_trainer, parse_train_args, train_and_save  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESPONSES = [
    "It is sunny and warm.",
    "The capital of France is Paris.",
    "A spider has eight legs.",
    "Seven.",
    "Yes, I would be glad to help.",
    "Once upon a time there was a cat.",
]
UNIT_VOCAB = 20  # tiny_config's unit_vocab_size


def make_dataset(n: int = 8, seed: int = 0) -> "datasets.Dataset":
    """A tiny speech-instruction dataset with the data builder's columns."""
    rng = np.random.default_rng(seed)
    rows = {
        "id": [f"ex{i}" for i in range(n)],
        "source": ["test"] * n,
        "instruction": [f"question {i}" for i in range(n)],
        "speech_instruction": [
            {"array": make_speech(0.5 + 0.07 * i, seed=seed * 100 + i), "sampling_rate": 16000} for i in range(n)
        ],
        "instruction_voice": ["synthetic"] * n,
        "response": [RESPONSES[i % len(RESPONSES)] for i in range(n)],
        "speech_response": [{"array": make_speech(0.5, seed=1000 + i), "sampling_rate": 16000} for i in range(n)],
        "response_units": [rng.integers(0, UNIT_VOCAB, size=int(rng.integers(4, 12))).tolist() for _ in range(n)],
    }
    dataset = datasets.Dataset.from_dict(rows)
    for column in ("speech_instruction", "speech_response"):
        dataset = dataset.cast_column(column, datasets.Audio(sampling_rate=16000))
    return dataset


pytestmark = pytest.mark.usefixtures("one_torch_thread")


COMMON = dict(
    use_cpu=True,
    bf16=False,
    report_to="none",
    save_strategy="no",
    logging_steps=1,
    disable_tqdm=True,
    dataloader_num_workers=0,
    seed=0,
    lr_scheduler_type="constant",
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A tiny model folder (`init`) and a dataset folder (`data`, splits train/validation)."""
    root = tmp_path_factory.mktemp("trainers")
    model, processor = tiny_model_and_processor(seed=0)
    model.save_pretrained(root / "init")
    processor.save_pretrained(root / "init")
    datasets.DatasetDict({"train": make_dataset(8), "validation": make_dataset(2, seed=1)}).save_to_disk(root / "data")
    return root


def write_recipe(path, **fields) -> str:
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(fields, f)
    return str(path)


def load(folder) -> LlamaOmniForConditionalGeneration:
    return LlamaOmniForConditionalGeneration.from_pretrained(folder, dtype=torch.float32).eval()


def state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def component(key: str) -> str:
    for name, prefix in (
        ("speech_encoder", "model.speech_encoder."),
        ("speech_adaptor", "model.speech_adaptor."),
        ("language_model", "model.language_model."),
        ("language_model", "lm_head."),
        ("speech_decoder", "speech_decoder."),
    ):
        if key.startswith(prefix):
            return name
    raise AssertionError(key)


def changed_components(before: dict, after: dict) -> dict[str, bool]:
    """For each component: whether ANY tensor changed; also asserts unchanged ones are bit-identical (same keys)."""
    assert before.keys() == after.keys()
    changed: dict[str, bool] = {}
    for key in before:
        name = component(key)
        changed[name] = changed.get(name, False) or not torch.equal(before[key], after[key])
    return changed


def trained(*names: str) -> dict[str, bool]:
    """The expected result of `changed_components` when exactly `names` are trained."""
    return {name: name in names for name in ("speech_encoder", "speech_adaptor", "language_model", "speech_decoder")}


def fixed_batch(processor, units: bool, n: int = 2):
    encoder = SpeechInstructionEncoder(processor, units_column="response_units" if units else None, unit_vocab_size=20)
    collator = LlamaOmniCollator(pad_token_id=processor.tokenizer.pad_token_id, example_encoder=encoder)
    dataset = make_dataset(n)
    return collator([dataset[i] for i in range(n)]), dataset


# ----------------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------------


def test_example_encoding_labels_only_on_the_response():
    _, processor = tiny_model_and_processor()
    dataset = make_dataset(3)
    encoder = SpeechInstructionEncoder(processor, units_column="response_units", unit_vocab_size=UNIT_VOCAB)
    example = encoder(dataset[1])
    ids, labels = example["input_ids"], example["labels"]
    assert len(ids) == len(labels)
    first = next(i for i, label in enumerate(labels) if label != IGNORE_INDEX)
    assert all(label == IGNORE_INDEX for label in labels[:first])
    assert labels[first:] == ids[first:]
    tokenizer = processor.tokenizer
    assert tokenizer.decode(labels[first:]) == RESPONSES[1] + "<|eot_id|>"  # the response and its end-of-turn token
    # The prompt is what inference sees: the processor's default prompt for this clip.
    prompt = processor(audio=dataset[1]["speech_instruction"], return_tensors="np")
    assert ids[:first] == prompt["input_ids"][0].tolist()
    assert example["unit_labels"] == list(dataset[1]["response_units"])
    assert example["input_features"].shape[0] == 80

    collator = LlamaOmniCollator(pad_token_id=tokenizer.pad_token_id, example_encoder=encoder)
    batch = collator([dataset[i] for i in range(3)])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    lengths = batch["attention_mask"].sum(-1)
    for i in range(3):  # right padding, -100 labels on the padding
        assert bool((batch["input_ids"][i, lengths[i] :] == tokenizer.pad_token_id).all())
        assert bool((batch["labels"][i, lengths[i] :] == IGNORE_INDEX).all())
        n_units = len(dataset[i]["response_units"])
        assert batch["unit_labels"][i, :n_units].tolist() == list(dataset[i]["response_units"])
        assert bool((batch["unit_labels"][i, n_units:] == IGNORE_INDEX).all())
    assert batch["input_features"].shape[:2] == (3, 80)
    assert batch["feature_attention_mask"].sum(-1).tolist() == [
        int(f.shape[-1]) for f in (encoder(dataset[i])["input_features"] for i in range(3))
    ]


def test_clear_errors_for_bad_data_and_recipes(workdir, tmp_path, capsys):
    _, processor = tiny_model_and_processor()
    encoder = SpeechInstructionEncoder(processor, units_column="response_units", unit_vocab_size=UNIT_VOCAB)
    example = dict(make_dataset(1)[0])
    with pytest.raises(ValueError, match=r"speech units must lie in \[0, 20\)"):
        encoder({**example, "response_units": [3, 25]})
    with pytest.raises(ValueError, match="has no column 'response'"):
        encoder({k: v for k, v in example.items() if k != "response"})
    with pytest.raises(ValueError, match="exactly once"):
        SpeechInstructionEncoder(processor, instruction_prompt="no placeholder here")

    model, processor = tiny_model_and_processor()
    args = Stage1Config(output_dir=str(tmp_path / "o"), **COMMON)
    with pytest.raises(ValueError, match=r"no column\(s\) \['response'\]"):
        LlamaOmniStage1Trainer(
            model, args, train_dataset=make_dataset(2).remove_columns("response"), processor=processor
        )

    bad = write_recipe(
        tmp_path / "bad.yaml", model_name_or_path=str(workdir / "init"), dataset_path="x", learning_rat=1e-3
    )
    assert cli_main(["train", "stage1", "--config", bad]) == 2
    assert "did you mean 'learning_rate'" in capsys.readouterr().err
    missing = write_recipe(
        tmp_path / "missing.yaml", model_name_or_path=str(workdir / "init"), dataset_path=str(tmp_path / "nope"),
        output_dir=str(tmp_path / "o"), **COMMON,
    )
    assert cli_main(["train", "stage1", "--config", missing]) == 2
    assert "dataset not found" in capsys.readouterr().err
    assert cli_main(["train", "stage3"]) == 2


@pytest.mark.parametrize("name,stage", [("stage1_paper", "stage1"), ("stage2_paper", "stage2"),
                                        ("stage1_tiny", "stage1"), ("stage2_tiny", "stage2")])
def test_shipped_recipes_parse(name, stage):
    # use_cpu: the paper recipes ask for bf16, which transformers refuses on a machine without a GPU otherwise.
    model_args, data_args, config = parse_train_args(
        stage, ["--config", os.path.join(ROOT, "trainers", "recipes", f"{name}.yaml"), "--use_cpu", "true"]
    )
    assert config.remove_unused_columns is False
    if name.endswith("paper"):
        assert config.num_train_epochs == 3 and config.lr_scheduler_type == "cosine" and config.warmup_steps == 0.03
        assert config.learning_rate == (2e-5 if stage == "stage1" else 2e-4) and config.bf16


# ----------------------------------------------------------------------------------------------------------------------
# Stage 1 and stage 2 through the CLI
# ----------------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage1_folder(workdir):
    recipe = write_recipe(
        workdir / "stage1.yaml",
        model_name_or_path=str(workdir / "init"),
        dataset_path=str(workdir / "data"),
        eval_split="validation",
        output_dir=str(workdir / "stage1"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        **COMMON,
    )
    assert cli_main(["train", "stage1", "--config", recipe, "--max_steps", "2"]) == 0  # a flag overrides the recipe
    return workdir / "stage1"


def test_stage1_cli_trains_adaptor_and_llm_only(workdir, stage1_folder):
    with open(stage1_folder / "trainer_state.json") as f:
        assert json.load(f)["global_step"] == 2
    changed = changed_components(state(load(workdir / "init")), state(load(stage1_folder)))
    assert changed == trained("speech_adaptor", "language_model")
    assert os.path.isfile(stage1_folder / "eval_results.json")


def test_stage1_output_loads_with_automodel_and_generates(stage1_folder):
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(stage1_folder).eval()
    processor = AutoProcessor.from_pretrained(stage1_folder)
    assert isinstance(model, LlamaOmniForConditionalGeneration) and isinstance(processor, LlamaOmniProcessor)
    inputs = processor(audio=make_speech(0.6, seed=5), sampling_rate=16000)
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False, return_audio=True)
    assert out.sequences.shape[1] > inputs["input_ids"].shape[1] and len(out.units) == 1


@pytest.fixture(scope="module")
def stage2_folder(workdir, stage1_folder):
    recipe = write_recipe(
        workdir / "stage2.yaml",
        model_name_or_path=str(stage1_folder),
        dataset_path=str(workdir / "data"),
        eval_split="validation",
        output_dir=str(workdir / "stage2"),
        max_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        **COMMON,
    )
    assert cli_main(["train", "stage2", "--config", recipe]) == 0
    return workdir / "stage2"


def test_stage2_cli_trains_only_the_speech_decoder(stage1_folder, stage2_folder):
    from transformers import AutoModel

    changed = changed_components(state(load(stage1_folder)), state(load(stage2_folder)))
    assert changed == trained("speech_decoder")
    with open(stage2_folder / "eval_results.json") as f:
        assert np.isfinite(json.load(f)["eval_loss"])
    model = AutoModel.from_pretrained(stage2_folder).eval()
    processor = LlamaOmniProcessor.from_pretrained(stage2_folder)
    out = model.generate(**processor(audio=make_speech(0.6, seed=6), sampling_rate=16000), max_new_tokens=4,
                         do_sample=False, return_audio=True)
    assert len(out.units) == 1


def test_llm_mode_frozen_trains_only_the_adaptor(tmp_path):
    model, processor = tiny_model_and_processor()
    before = state(model)
    args = Stage1Config(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, llm_mode="frozen",
                        learning_rate=1e-2, **COMMON)
    LlamaOmniStage1Trainer(model, args, train_dataset=make_dataset(2), processor=processor).train()
    changed = changed_components(before, state(model))
    assert changed == trained("speech_adaptor")


def test_json_lines_dataset_with_audio_paths(tmp_path):
    """A JSON Lines file with audio file paths (relative to the file) loads like a saved dataset."""
    import soundfile as sf

    from trainers.scripts.utils import DataArguments, load_datasets

    rows = []
    for i in range(3):
        sf.write(tmp_path / f"q{i}.wav", make_speech(0.5, seed=i), 16000)
        rows.append({"id": f"j{i}", "speech_instruction": f"q{i}.wav", "response": RESPONSES[i],
                     "response_units": [1, 2, 3]})
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    train, evaluation = load_datasets(DataArguments(dataset_path=str(tmp_path / "data.jsonl"), eval_split="0.3"))
    assert len(train) == 2 and len(evaluation) == 1
    _, processor = tiny_model_and_processor()
    encoder = SpeechInstructionEncoder(processor, units_column="response_units", unit_vocab_size=UNIT_VOCAB)
    assert encoder(train[0])["input_features"].shape[0] == 80
    with pytest.raises(ValueError, match="one split"):
        load_datasets(DataArguments(dataset_path=str(tmp_path / "data.jsonl"), train_split="test"))


# ----------------------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------------------


def test_trl_fused_loss_is_the_models_text_loss(tmp_path):
    """SFTTrainer computes its own loss through model.base_model + lm_head; it must see the audio."""
    model, processor = tiny_model_and_processor()
    trainer = LlamaOmniStage1Trainer(
        model, Stage1Config(output_dir=str(tmp_path), **COMMON), train_dataset=make_dataset(2), processor=processor
    )
    batch, _ = fixed_batch(processor, units=False)
    model.eval()
    calls = []
    hook = model.model.speech_adaptor.register_forward_hook(lambda module, args, output: calls.append(output.shape))
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, dict(batch))
        assert len(calls) == 1  # the speech embeddings reach the backbone in TRL's fused forward
        text_loss = model(**batch).text_loss
        noise = {**batch, "input_features": torch.randn_like(batch["input_features"]) * 3}
        trl_noise, text_noise = trainer.compute_loss(trainer.model, dict(noise)), model(**noise).text_loss
    hook.remove()
    torch.testing.assert_close(trl_loss, text_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(trl_noise, text_noise, rtol=1e-5, atol=1e-6)
    assert float(trl_noise) != float(trl_loss)


def test_cached_prompt_prefix_gives_the_same_loss_and_adaptor_gradients(tmp_path):
    """cache_prompt_prefix: the shared system-prompt prefix runs once, its KV is reused; loss and gradients match."""
    model, processor = tiny_model_and_processor()
    args = dict(output_dir=str(tmp_path), llm_mode="frozen", **COMMON)
    plain = LlamaOmniStage1Trainer(model, Stage1Config(**args), train_dataset=make_dataset(2), processor=processor)
    cached = LlamaOmniStage1Trainer(model, Stage1Config(cache_prompt_prefix=True, **args),
                                    train_dataset=make_dataset(2), processor=processor)
    batch, _ = fixed_batch(processor, units=False, n=3)
    results = []
    for trainer in (plain, cached, cached):  # the second cached call reuses the stored prefix
        model.zero_grad(set_to_none=True)
        loss = trainer.compute_loss(trainer.model, dict(batch))
        loss.backward()
        results.append((loss.detach(), model.model.speech_adaptor.linear1.weight.grad.clone()))
    (prefix,) = cached.prompt_prefix_cache.states
    assert len(prefix) >= cached.prompt_prefix_cache.min_length
    for loss, grad in results[1:]:
        torch.testing.assert_close(loss, results[0][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="cache_prompt_prefix=True needs llm_mode='frozen'"):
        Stage1Config(output_dir=str(tmp_path), llm_mode="full", cache_prompt_prefix=True, **COMMON)


def _losses(trainer) -> list[float]:
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_loss_falls_when_overfitting_a_fixed_batch(tmp_path, stage):
    """30 steps on one fixed batch of 2 (the encoder-output cache keeps the steps cheap; the encoder is frozen)."""
    model, processor = tiny_model_and_processor()
    config_cls, trainer_cls = (
        (Stage1Config, LlamaOmniStage1Trainer) if stage == "stage1" else (Stage2Config, LlamaOmniStage2Trainer)
    )
    args = config_cls(output_dir=str(tmp_path), max_steps=30, per_device_train_batch_size=2, learning_rate=3e-3,
                      cache_encoder_outputs=True, **COMMON)
    trainer = trainer_cls(model, args, train_dataset=make_dataset(2), processor=processor)
    trainer.train()
    losses = _losses(trainer)
    assert len(losses) == 30
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses


# ----------------------------------------------------------------------------------------------------------------------
# Resume, data parallelism
# ----------------------------------------------------------------------------------------------------------------------


class KillAfterCheckpoint(TrainerCallback):
    """Stops training right after the checkpoint of `step` is written, as a killed job would."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True
        return control


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_killed_and_resumed_training_gives_the_same_weights(workdir, tmp_path, stage):
    start = workdir / "init"
    base = dict(
        model_name_or_path=str(start), dataset_path=str(workdir / "data"), max_steps=4,
        per_device_train_batch_size=2, learning_rate=1e-3, **{**COMMON, "lr_scheduler_type": "cosine"},
    )

    def trainer_for(out, extra=(), callbacks=None):
        recipe = write_recipe(tmp_path / f"{out}.yaml", **base, output_dir=str(tmp_path / out))
        model_args, data_args, config = parse_train_args(stage, ["--config", recipe, *extra])
        return build_trainer(stage, model_args, data_args, config, callbacks=callbacks)

    straight = trainer_for("straight")
    train_and_save(straight)

    killed = trainer_for("killed", ["--save_strategy", "steps", "--save_steps", "2"], [KillAfterCheckpoint(2)])
    killed.train()
    assert killed.state.global_step == 2
    assert os.path.isfile(tmp_path / "killed" / "checkpoint-2" / "processor_config.json")  # complete checkpoints
    resumed = trainer_for(
        "killed", ["--save_strategy", "steps", "--save_steps", "2", "--resume_from_checkpoint", "last"]
    )
    train_and_save(resumed)

    a, b = state(load(tmp_path / "straight")), state(load(tmp_path / "killed"))
    for key in a:
        assert torch.equal(a[key], b[key]), key


DDP_SCRIPT = """
import sys
import torch.distributed as dist
from llama_omni_cli import main
for stage, recipe in zip(sys.argv[1::2], sys.argv[2::2]):
    if main(["train", stage, "--config", recipe]) != 0:
        sys.exit(1)
# An orderly end: gloo's threads left running at interpreter exit can abort a rank after a loaded run
# ("terminate called without an active exception").
if dist.is_initialized():
    dist.barrier()
    dist.destroy_process_group()
"""


def test_two_process_data_parallel_matches_single_process(workdir, tmp_path):
    """torchrun, 2 CPU processes (gloo), 2 examples each per step = one process with 4 examples per step, for stage
    1 and stage 2 (one torchrun launch runs both). Plain SGD, so that a wrong loss normalisation across processes
    (per-process token / unit counts differ) would show in the weights."""
    runs = {}
    for stage in ("stage1", "stage2"):
        base = dict(
            model_name_or_path=str(workdir / "init"), dataset_path=str(workdir / "data"), max_steps=2,
            optim="sgd", learning_rate=0.5, **COMMON,
        )
        runs[stage] = (
            write_recipe(tmp_path / f"{stage}_single.yaml", **base, per_device_train_batch_size=4,
                         output_dir=str(tmp_path / stage / "single")),
            write_recipe(tmp_path / f"{stage}_ddp.yaml", **base, per_device_train_batch_size=2, ddp_backend="gloo",
                         output_dir=str(tmp_path / stage / "ddp")),
        )
    script = tmp_path / "ddp_main.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
         "stage1", runs["stage1"][1], "stage2", runs["stage2"][1]],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        for stage in ("stage1", "stage2"):  # meanwhile, the single-process runs
            assert cli_main(["train", stage, "--config", runs[stage][0]]) == 0
        output, _ = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-3000:]
    start = state(load(workdir / "init"))
    for stage in ("stage1", "stage2"):
        with open(tmp_path / stage / "ddp" / "trainer_state.json") as f:
            assert json.load(f)["global_step"] == 2
        one, two = state(load(tmp_path / stage / "single")), state(load(tmp_path / stage / "ddp"))
        assert changed_components(start, two) == changed_components(start, one)
        for key in one:
            torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=f"{stage}: {key}")


# ----------------------------------------------------------------------------------------------------------------------
# LoRA, encoder-output cache
# ----------------------------------------------------------------------------------------------------------------------


def test_lora_mode_saves_a_merged_model_that_loads_without_peft(workdir, tmp_path):
    recipe = write_recipe(
        tmp_path / "lora.yaml", model_name_or_path=str(workdir / "init"), dataset_path=str(workdir / "data"),
        output_dir=str(tmp_path / "lora"), max_steps=2, per_device_train_batch_size=4, learning_rate=5e-3,
        llm_mode="lora", lora_r=4, lora_alpha=8, lora_dropout=0.0, **COMMON,
    )
    model_args, data_args, config = parse_train_args("stage1", ["--config", recipe])
    trainer = build_trainer("stage1", model_args, data_args, config)
    peft_model = trainer.model
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert trainable and all(("lora_" in n and ".language_model." in n) or "speech_adaptor" in n for n in trainable)
    train_and_save(trainer)
    out = tmp_path / "lora"
    assert os.path.isfile(out / "adapter" / "adapter_config.json")

    merged = load(out)
    _, processor = tiny_model_and_processor()
    batch, _ = fixed_batch(processor, units=False)
    peft_model.eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**batch).logits, peft_model(**batch).logits, rtol=1e-4, atol=1e-5)
    before, after = state(load(workdir / "init")), state(merged)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("model.speech_adaptor.") for k in changed)
    assert any(k.endswith("q_proj.weight") and ".language_model." in k for k in changed)  # merged LoRA deltas
    assert not any(k.startswith(("model.speech_encoder.", "speech_decoder.", "lm_head.")) for k in changed)
    assert not any("embed_tokens" in k or "norm" in k for k in changed)


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_encoder_cache_gives_the_same_loss(tmp_path, stage):
    dataset = make_dataset(4)
    losses = {}
    for cached in (False, True):
        model, processor = tiny_model_and_processor()
        config_cls, trainer_cls = (
            (Stage1Config, LlamaOmniStage1Trainer) if stage == "stage1" else (Stage2Config, LlamaOmniStage2Trainer)
        )
        args = config_cls(output_dir=str(tmp_path / str(cached)), cache_encoder_outputs=cached, **COMMON)
        trainer = trainer_cls(model, args, train_dataset=dataset, eval_dataset=dataset, processor=processor)
        batch = trainer.data_collator([dataset[i] for i in range(4)])
        assert ("speech_encoder_hidden_states" in batch) == cached and ("input_features" in batch) != cached
        model.eval()
        with torch.no_grad():
            losses[cached] = float(trainer.compute_loss(trainer.model, copy.copy(batch)))
        if cached:
            assert len(os.listdir(tmp_path / "True" / "encoder_cache" / "states")) > 0
            assert trainer.evaluate()["eval_loss"] == pytest.approx(losses[cached], rel=1e-5)
    assert losses[True] == pytest.approx(losses[False], rel=1e-5, abs=1e-6)


def test_stage2_response_state_cache_gives_the_same_loss_and_training(tmp_path):
    """Stage 2 on cached LLM response states: same CTC loss as the full forward, the same decoder weights after
    3 steps, and the cache is reused (not rebuilt) by a second trainer."""
    dataset = make_dataset(4)
    weights, losses = {}, {}
    for cached in (False, True):
        model, processor = tiny_model_and_processor()
        args = Stage2Config(output_dir=str(tmp_path / str(cached)), cache_response_states=cached, max_steps=3,
                            per_device_train_batch_size=4, learning_rate=1e-2, **COMMON)
        trainer = LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)
        batch = trainer.data_collator([dataset[i] for i in range(4)])
        assert ("response_hidden_states" in batch) == cached and ("input_ids" in batch) != cached
        model.eval()
        with torch.no_grad():
            losses[cached] = float(trainer.compute_loss(trainer.model, copy.copy(batch)))
        model.train()
        trainer.train()
        weights[cached] = {k: v.detach().clone() for k, v in model.speech_decoder.state_dict().items()}
    assert losses[True] == pytest.approx(losses[False], rel=1e-5, abs=1e-6)
    for key in weights[False]:
        torch.testing.assert_close(weights[True][key], weights[False][key], rtol=1e-4, atol=1e-6)
    cache_files = sorted((tmp_path / "True" / "response_state_cache" / "states").rglob("*.safetensors"))
    assert len(cache_files) == 4
    stamps = [f.stat().st_mtime_ns for f in cache_files]
    model, processor = tiny_model_and_processor()
    args = Stage2Config(output_dir=str(tmp_path / "True"), cache_response_states=True, **COMMON)
    LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)
    assert [f.stat().st_mtime_ns for f in cache_files] == stamps
    # another model (here: another adaptor) must not reuse those states
    model, processor = tiny_model_and_processor(seed=1)
    with pytest.raises(ValueError, match="another"):
        LlamaOmniStage2Trainer(model, args, train_dataset=dataset, processor=processor)


@pytest.mark.parametrize("llm_mode", ["full", "lora"])
def test_activation_checkpointing_gives_the_same_weights(tmp_path, llm_mode):
    """TRL turns activation checkpointing on by default; Stage1Config leaves it off but it must work (the 8B recipe
    uses it): same weights after 2 steps with and without."""
    weights = {}
    for checkpointing in (False, True):
        model, processor = tiny_model_and_processor()
        args = Stage1Config(
            output_dir=str(tmp_path / str(checkpointing)), max_steps=2, per_device_train_batch_size=2,
            learning_rate=1e-2, llm_mode=llm_mode, lora_dropout=0.0, activation_checkpointing=checkpointing, **COMMON,
        )
        trainer = LlamaOmniStage1Trainer(model, args, train_dataset=make_dataset(2), processor=processor)
        before = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        trainer.train()
        assert unwrapped_llama_omni(trainer.model).is_activation_checkpointing == checkpointing
        weights[checkpointing] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        assert any(not torch.equal(before[k], v) for k, v in weights[checkpointing].items())
    for key, value in weights[False].items():
        torch.testing.assert_close(weights[True][key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_per_example_instructions_share_the_cached_audio(tmp_path):
    """A "repeat what I said" row next to an answering row on the same audio: each gets its own user turn
    (`instruction_column`), both read one cached encoder output (`encoder_cache_key_column`), and the losses equal
    those of uncached rows with those prompts."""
    base = make_dataset(3)
    repeat_prompt = "<speech>\nRepeat exactly what I said."
    answer_rows = base.map(lambda row: {"audio_id": row["id"], "task_prompt": ""})
    repeat_rows = base.map(lambda row: {"audio_id": row["id"], "id": row["id"] + "#repeat",
                                        "response": row["instruction"], "task_prompt": repeat_prompt})
    dataset = datasets.concatenate_datasets([answer_rows, repeat_rows])
    _, processor = tiny_model_and_processor()
    encoder = SpeechInstructionEncoder(processor, instruction_column="task_prompt")
    answer, repeat = encoder(dataset[0]), encoder(dataset[3])
    tokenizer = processor.tokenizer
    assert "Repeat exactly" not in tokenizer.decode(answer["input_ids"])
    first = next(i for i, label in enumerate(repeat["labels"]) if label != IGNORE_INDEX)
    assert "Repeat exactly what I said." in tokenizer.decode(repeat["input_ids"][:first])
    assert tokenizer.decode(repeat["labels"][first:]) == "question 0<|eot_id|>"
    with pytest.raises(ValueError, match="exactly once"):
        encoder({**dataset[3], "task_prompt": "Repeat it."})
    with pytest.raises(ValueError, match="duplicate ids"):  # the audio key is not an example id
        LlamaOmniStage1Trainer(tiny_model_and_processor()[0], Stage1Config(
            output_dir=str(tmp_path / "dup"), cache_encoder_outputs=True, id_column="audio_id", **COMMON),
            train_dataset=dataset, processor=processor)
    losses = {}
    for cached in (False, True):
        model, processor = tiny_model_and_processor()
        args = Stage1Config(output_dir=str(tmp_path / str(cached)), cache_encoder_outputs=cached,
                            instruction_column="task_prompt",
                            encoder_cache_key_column="audio_id" if cached else None, **COMMON)
        trainer = LlamaOmniStage1Trainer(model, args, train_dataset=dataset, processor=processor)
        batch = trainer.data_collator([dataset[i] for i in range(6)])
        model.eval()
        with torch.no_grad():
            losses[cached] = float(trainer.compute_loss(trainer.model, copy.copy(batch)))
        if cached:
            assert len(os.listdir(tmp_path / "True" / "encoder_cache" / "states")) == 3  # one per audio
    assert losses[True] == pytest.approx(losses[False], rel=1e-5, abs=1e-6)
