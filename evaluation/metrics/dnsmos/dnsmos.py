# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""DNSMOS: speech quality (MOS, 1-5) of spoken answers predicted offline by Microsoft's DNSMOS ONNX models.

An `evaluate` module kept in the repository and loaded by path:

    import evaluate
    dnsmos = evaluate.load("evaluation/metrics/dnsmos")
    dnsmos.compute(audio=[clip1, clip2], sampling_rate=16000)   # {"dnsmos": 3.1, "dnsmos_sig": ..., ...}
"""

import os

import datasets
import evaluate
import numpy
import onnxruntime
import torch
import torchaudio

_DESCRIPTION = """
DNSMOS P.835 (Reddy et al., 2022) as packaged by `speechmos` (its ONNX models ship in the pip package; its feature
code needs librosa): for each clip the overall quality (OVRL), the speech signal quality (SIG), the background
quality (BAK) and the P.808 MOS, averaged over 9 s windows (shorter clips are repeated to 9 s). This module returns
the means over clips; `dnsmos` is the mean OVRL. The ONNX sessions run on `num_threads` threads without spinning.
"""

_KWARGS_DESCRIPTION = """
Args:
    audio (`list` of 1-D float arrays): mono clips, samples in [-1, 1] (values outside are clipped).
    sampling_rate (`int`, defaults to 16000): their sampling rate (resampled to 16 kHz).
    min_seconds (`float`, defaults to 0.1): shorter clips are not scored.
    personalized (`bool`, defaults to `False`): the personalized DNSMOS model (penalises interfering speakers).
    num_threads (`int`, *optional*): ONNX runtime threads (default: torch's intra-op thread count).
Returns:
    dnsmos (`float` or `None`): mean OVRL; dnsmos_sig, dnsmos_bak, dnsmos_p808: the other means.
    scores (`list`): per clip a dict {"ovrl", "sig", "bak", "p808"} (None for a clip too short to score).
    num_scored (`int`), num_skipped (`int`).
Raises:
    ModuleNotFoundError: `speechmos` or `librosa` is not installed.
Examples:
    >>> dnsmos = evaluate.load("evaluation/metrics/dnsmos")
    >>> dnsmos.compute(audio=[clip], sampling_rate=16000)["dnsmos"]
    3.2
"""

_CITATION = """
@inproceedings{reddy2022dnsmos,
  title={DNSMOS P.835: A Non-Intrusive Perceptual Objective Speech Quality Metric to Evaluate Noise Suppressors},
  author={Reddy, Chandan K. A. and Gopal, Vishak and Cutler, Ross},
  booktitle={ICASSP},
  year={2022}
}
"""

_SCORERS = {}


def dnsmos_scorer(personalized, num_threads):
    """A `speechmos.dnsmos.DNSMOS` whose ONNX sessions use `num_threads` threads (built once per setting)."""
    key = (bool(personalized), int(num_threads))
    if key not in _SCORERS:
        from speechmos import dnsmos as speechmos_dnsmos

        base = os.path.dirname(os.path.abspath(speechmos_dnsmos.__file__))
        primary = os.path.join(base, "pdnsmos_models" if personalized else "dnsmos_models", "sig_bak_ovr.onnx")
        p808 = os.path.join(base, "dnsmos_models", "model_v8.onnx")

        class ThreadLimitedDNSMOS(speechmos_dnsmos.DNSMOS):
            # speechmos builds sessions with onnxruntime's defaults (all cores, spinning threads)
            def __init__(self, primary_model_path, p808_model_path):
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = key[1]
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                providers = ["CPUExecutionProvider"]
                self.primary_model_path = primary_model_path
                self.onnx_sess = onnxruntime.InferenceSession(primary_model_path, options, providers=providers)
                self.p808_onnx_sess = onnxruntime.InferenceSession(p808_model_path, options, providers=providers)

        _SCORERS[key] = ThreadLimitedDNSMOS(primary, p808)
    return _SCORERS[key]


def to_16k(clip, sampling_rate):
    """A mono float32 numpy clip at 16 kHz, clipped to [-1, 1]."""
    wave = torch.as_tensor(numpy.asarray(clip, dtype=numpy.float32)).reshape(-1)
    if int(sampling_rate) != 16000:
        wave = torchaudio.functional.resample(wave, int(sampling_rate), 16000)
    return numpy.clip(wave.numpy(), -1.0, 1.0).astype(numpy.float32)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Dnsmos(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"audio": datasets.List(datasets.Value("float32"))}),
            reference_urls=["https://github.com/microsoft/DNS-Challenge", "https://pypi.org/project/speechmos/"],
        )

    def _compute(self, audio, sampling_rate=16000, min_seconds=0.1, personalized=False, num_threads=None):
        scorer = dnsmos_scorer(personalized, num_threads or torch.get_num_threads())
        scores = []
        for clip in audio:
            wave = to_16k(clip, sampling_rate)
            if wave.size < min_seconds * 16000:
                scores.append(None)
                continue
            out = scorer(wave, 16000, bool(personalized))
            scores.append({name: float(out[f"{name}_mos"]) for name in ("ovrl", "sig", "bak", "p808")})
        scored = [s for s in scores if s is not None]

        def mean(name):
            return float(numpy.mean([s[name] for s in scored])) if scored else None

        return {
            "dnsmos": mean("ovrl"),
            "dnsmos_sig": mean("sig"),
            "dnsmos_bak": mean("bak"),
            "dnsmos_p808": mean("p808"),
            "scores": scores,
            "num_scored": len(scored),
            "num_skipped": len(scores) - len(scored),
        }
