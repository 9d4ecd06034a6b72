# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""UTMOS: speech quality (MOS, 1-5) of spoken answers, the paper's metric, from a UTMOS model the user supplies.

An `evaluate` module kept in the repository and loaded by path. No UTMOS weights can be had offline, so this module
never downloads anything: it runs a model file given as `model_path`:

    import evaluate
    utmos = evaluate.load("evaluation/metrics/utmos")
    utmos.compute(audio=[clip], sampling_rate=16000, model_path="utmos22_strong.onnx")   # {"utmos": 4.2, ...}
"""

import os

import datasets
import evaluate
import numpy
import torch
import torchaudio

_DESCRIPTION = """
UTMOS (Saeki et al., 2022), the MOS predictor LLaMA-Omni reports. `model_path` is one of
- an ONNX export (`.onnx`), run with onnxruntime on a float32 `(1, samples)` 16 kHz input, the first output being the
  score;
- a `torch.export` program (`.pt2`, `torch.export.save`) or a TorchScript archive (`torch.jit.save`), called as
  `model(wave, 16000)` (or `model(wave)`) with `wave` a float32 `(1, samples)` 16 kHz tensor;
- a local folder holding a `hubconf.py` with a `utmos22_strong` entry (a clone of tarepan/SpeechMOS), loaded with
  `torch.hub.load(folder, "utmos22_strong", source="local")`: its weights must already be in the torch hub cache.
Each clip gets one score; this module returns their mean.
"""

_KWARGS_DESCRIPTION = """
Args:
    audio (`list` of 1-D float arrays): mono clips, samples in [-1, 1].
    sampling_rate (`int`, defaults to 16000): their sampling rate (resampled to 16 kHz).
    model_path (`str`): the UTMOS model (see above). Required.
    min_seconds (`float`, defaults to 0.1): shorter clips are not scored.
Returns:
    utmos (`float` or `None`): the mean score of the scored clips.
    scores (`list`): per clip (None for a clip too short to score).
    num_scored (`int`), num_skipped (`int`).
Raises:
    FileNotFoundError: no `model_path`, or no such file or folder.
    ValueError: a file that is not ONNX, torch.export or TorchScript, or a folder without `hubconf.py`.
Examples:
    >>> utmos = evaluate.load("evaluation/metrics/utmos")
    >>> utmos.compute(audio=[clip], sampling_rate=16000, model_path="utmos.onnx")["utmos"]
    4.2
"""

_CITATION = """
@inproceedings{saeki2022utmos,
  title={UTMOS: UTokyo-SaruLab System for VoiceMOS Challenge 2022},
  author={Saeki, Takaaki and Xin, Detai and Nakata, Wataru and Koriyama, Tomoki and Takamichi, Shinnosuke and
          Saruwatari, Hiroshi},
  booktitle={Interspeech},
  year={2022}
}
"""

_MODELS = {}


def load_utmos(model_path):
    """A callable `wave (1, samples) float32 16 kHz tensor -> score` for `model_path` (loaded once per path)."""
    if not model_path:
        raise FileNotFoundError("UTMOS needs model_path: a local ONNX / TorchScript file or a SpeechMOS folder")
    model_path = os.path.abspath(os.fspath(model_path))
    if model_path in _MODELS:
        return _MODELS[model_path]
    if os.path.isdir(model_path):
        if not os.path.isfile(os.path.join(model_path, "hubconf.py")):
            raise ValueError(f"{model_path} is a folder without hubconf.py (expected a clone of tarepan/SpeechMOS)")
        model = torch.hub.load(model_path, "utmos22_strong", source="local", trust_repo=True).eval()

        def predict(wave):
            return float(model(wave, 16000).reshape(-1)[0])

    elif not os.path.isfile(model_path):
        raise FileNotFoundError(f"UTMOS model not found: {model_path}")
    elif model_path.endswith(".onnx"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def predict(wave):
            return float(numpy.asarray(session.run(None, {input_name: wave.numpy()})[0]).reshape(-1)[0])

    else:
        try:
            if model_path.endswith(".pt2"):
                model = torch.export.load(model_path).module()
            else:
                model = torch.jit.load(model_path, map_location="cpu").eval()
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"{model_path} is neither an ONNX file (.onnx), a torch.export program (.pt2) nor a "
                             f"TorchScript archive: {error}") from None

        def predict(wave):
            try:
                out = model(wave, 16000)
            except (RuntimeError, TypeError, ValueError):
                out = model(wave)
            return float(torch.as_tensor(out).reshape(-1)[0])

    _MODELS[model_path] = predict
    return predict


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Utmos(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"audio": datasets.List(datasets.Value("float32"))}),
            reference_urls=["https://arxiv.org/abs/2204.02152", "https://github.com/tarepan/SpeechMOS"],
        )

    def _compute(self, audio, sampling_rate=16000, model_path=None, min_seconds=0.1):
        predict = load_utmos(model_path)
        scores = []
        with torch.inference_mode():
            for clip in audio:
                wave = torch.as_tensor(numpy.asarray(clip, dtype=numpy.float32)).reshape(-1)
                if int(sampling_rate) != 16000:
                    wave = torchaudio.functional.resample(wave, int(sampling_rate), 16000)
                if wave.numel() < min_seconds * 16000:
                    scores.append(None)
                    continue
                scores.append(predict(wave[None].contiguous()))
        scored = [s for s in scores if s is not None]
        return {
            "utmos": float(numpy.mean(scored)) if scored else None,
            "scores": scores,
            "num_scored": len(scored),
            "num_skipped": len(scores) - len(scored),
        }
