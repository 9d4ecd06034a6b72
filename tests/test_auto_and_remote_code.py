"""Auto classes with the package imported, and remote code in an interpreter that cannot import the package."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoProcessor

from modeling_llama_omni import LlamaOmniForConditionalGeneration
from modeling_llama_omni.remote_code import export_remote_code
from processing import LlamaOmniProcessor
from tests.clean_interpreter import run_clean
from tests.tiny_components import make_speech
from tests.tiny_models import tiny_model_and_processor, tiny_vocoder

# Run in a subprocess: our packages are made unimportable (even through the editable install's finder), so only
# the files in the model folder can provide the classes.
REMOTE_SCRIPT = textwrap.dedent(
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoProcessor

    folder, wav, out = sys.argv[1:4]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    causal = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    inputs = processor(audio=wav)
    with torch.no_grad():
        logits = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=5, do_sample=False)
        spoken = model.generate(**inputs, max_new_tokens=8, do_sample=False, return_audio=True)
    streamed = [audio for _, audio in model.stream(processor, max_new_tokens=8, do_sample=False, **inputs)]
    vocoder = AutoModel.from_pretrained(folder + "/vocoder", trust_remote_code=True)
    torch.save({"logits": logits, "generated": generated, "input_ids": inputs["input_ids"],
                "waveform": spoken.waveforms[0], "streamed": torch.from_numpy(__import__("numpy").concatenate(streamed)),
                "vocoder_class": type(vocoder).__module__}, out)
    print(json.dumps({
        "model": type(model).__module__ + "." + type(model).__name__,
        "causal": type(causal).__name__,
        "processor": type(processor).__module__ + "." + type(processor).__name__,
        "ours_importable": any(m.split(".")[0] in OURS for m in sys.modules),
    }))
    """
)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model, processor = tiny_model_and_processor()
    folder = tmp_path_factory.mktemp("tiny-llama-omni")
    model.save_pretrained(folder, remote_code=True)
    processor.save_pretrained(folder, remote_code=True)
    tiny_vocoder().save_pretrained(folder / "vocoder", remote_code=True)
    wav = folder.parent / "question.wav"
    sf.write(wav, make_speech(2.0, sr=22050), 22050)
    return model, processor, folder, wav


def test_saved_folder_has_code_and_auto_map(saved):
    _, _, folder, _ = saved
    for name in ("configuration_llama_omni.py", "modeling_llama_omni.py", "processing_llama_omni.py",
                 "streaming_llama_omni.py", "configuration_unit_vocoder.py", "modeling_unit_vocoder.py",
                 "vocoder/configuration_unit_vocoder.py", "vocoder/modeling_unit_vocoder.py"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "vocoder" / "config.json").read_text())["auto_map"]["AutoModel"] == (
        "modeling_unit_vocoder.UnitVocoder"
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_llama_omni.LlamaOmniForConditionalGeneration"
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_llama_omni.LlamaOmniForConditionalGeneration"
    assert config["auto_map"]["AutoConfig"] == "configuration_llama_omni.LlamaOmniConfig"
    processor_config = json.loads((folder / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_llama_omni.LlamaOmniProcessor"


def test_remote_code_files_import_only_each_other_and_transformers(saved):
    _, _, folder, _ = saved
    allowed = {"torch", "transformers", "numpy", "__future__", "json", "os", "re", "math", "shutil", "dataclasses",
               "collections", "typing", "threading", "queue", "copy", "ctypes"}
    for name in ("configuration_llama_omni.py", "modeling_llama_omni.py", "processing_llama_omni.py",
                 "streaming_llama_omni.py", "configuration_unit_vocoder.py", "modeling_unit_vocoder.py",
                 "modeling_omni2_decoder.py"):
        for line in (folder / name).read_text().splitlines():
            if line.startswith(("import ", "from ")):
                module = line.split()[1]
                assert module.startswith(".") or module.split(".")[0] in allowed, f"{name}: {line}"


def test_auto_classes_with_the_package_imported(saved):
    model, processor, folder, wav = saved
    loaded = AutoModel.from_pretrained(folder).eval()
    assert type(loaded) is LlamaOmniForConditionalGeneration
    assert type(AutoModelForCausalLM.from_pretrained(folder)) is LlamaOmniForConditionalGeneration
    loaded_processor = AutoProcessor.from_pretrained(folder)
    assert type(loaded_processor) is LlamaOmniProcessor
    inputs = loaded_processor(audio=str(wav))
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**processor(audio=str(wav))).logits)
    out = loaded.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_remote_code_in_a_clean_interpreter(saved, tmp_path):
    model, processor, folder, wav = saved
    out = tmp_path / "remote.pt"
    result = run_clean(REMOTE_SCRIPT, folder, wav, out, cwd=tmp_path, threads=None)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["model"].startswith("transformers_modules.") and info["model"].endswith(
        "LlamaOmniForConditionalGeneration"
    )
    assert info["causal"] == "LlamaOmniForConditionalGeneration"
    assert info["processor"].startswith("transformers_modules.")
    assert info["ours_importable"] is False

    remote = torch.load(out, weights_only=True)
    inputs = processor(audio=str(wav))
    assert torch.equal(remote["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        torch.testing.assert_close(remote["logits"], model(**inputs).logits, atol=1e-5, rtol=0)
        expected = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert torch.equal(remote["generated"], expected)
    # the vocoder/ subfolder is the default vocoder, also through remote code
    assert remote["vocoder_class"].startswith("transformers_modules.")
    loaded = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        spoken = loaded.generate(**inputs, max_new_tokens=8, do_sample=False, return_audio=True)
    assert spoken.waveforms[0].numel() > 0
    torch.testing.assert_close(remote["waveform"], spoken.waveforms[0], atol=1e-5, rtol=0)
    assert remote["streamed"].shape == spoken.waveforms[0].shape


def test_export_remote_code_on_a_plain_folder(tmp_path):
    model, processor = tiny_model_and_processor()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    written = export_remote_code(tmp_path)
    assert sorted(os.path.basename(p) for p in written) == [
        "audio_llama_omni.py",
        "configuration_llama_omni.py",
        "configuration_token2wav.py",
        "configuration_unit_vocoder.py",
        "configuration_vits_vocoder.py",
        "lexicon_readout.py",
        "modeling_llama_omni.py",
        "modeling_omni2_decoder.py",
        "modeling_token2wav.py",
        "modeling_token2wav_flow.py",
        "modeling_token2wav_hift.py",
        "modeling_unit_vocoder.py",
        "modeling_vits_vocoder.py",
        "processing_llama_omni.py",
        "streaming_llama_omni.py",
        "whisper_readout.py",
    ]
    assert "auto_map" in json.loads((tmp_path / "processor_config.json").read_text())
    with pytest.raises(FileNotFoundError, match="config.json"):
        export_remote_code(tmp_path / "missing")


def test_end_to_end_from_a_waveform_array(saved):
    model, processor, _, _ = saved
    audio = np.stack([make_speech(1.5), make_speech(1.5, seed=1)], axis=0)  # stereo (2, N)
    inputs = processor(audio=audio, sampling_rate=16000)
    out = model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape == (1, inputs["input_ids"].shape[1] + 3)
