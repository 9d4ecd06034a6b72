# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""distillMOS: speech quality (MOS, 1-5) of spoken answers predicted offline by the `distillmos` package.

An `evaluate` module kept in the repository and loaded by path:

    import evaluate
    mos = evaluate.load("evaluation/metrics/distillmos")
    mos.compute(audio=[clip1, clip2], sampling_rate=22050)   # {"distillmos": 4.1, "scores": [...], ...}
"""

import contextlib
import io

import datasets
import evaluate
import numpy
import torch
import torchaudio

_DESCRIPTION = """
distillMOS (Stahl & Gamper, 2025): a small convolution + transformer model distilled from XLS-R-based speech quality
predictors, whose weights ship in the pip package `distillmos` (no download). It predicts the mean opinion score of
each clip (1 = bad, 5 = excellent); this module returns their mean. Clips are resampled to 16 kHz; clips shorter than
`min_seconds` get no score and are counted.
"""

_KWARGS_DESCRIPTION = """
Args:
    audio (`list` of 1-D float arrays): mono clips, samples in [-1, 1].
    sampling_rate (`int`, defaults to 16000): their sampling rate.
    min_seconds (`float`, defaults to 0.1): shorter clips are not scored.
Returns:
    distillmos (`float` or `None`): the mean score of the scored clips (None when none was scored).
    scores (`list`): the score of every clip (None for a clip too short to score).
    num_scored (`int`), num_skipped (`int`).
Raises:
    ModuleNotFoundError: the `distillmos` package is not installed (`pip install --no-deps distillmos xls-r-sqa`).
Examples:
    >>> mos = evaluate.load("evaluation/metrics/distillmos")
    >>> mos.compute(audio=[clip], sampling_rate=16000)["distillmos"]
    4.4
"""

_CITATION = """
@inproceedings{stahl2025distillmos,
  title={Distillation and Pruning for Scalable Self-Supervised Representation-Based Speech Quality Assessment},
  author={Stahl, Benjamin and Gamper, Hannes},
  booktitle={ICASSP},
  year={2025}
}
"""

_MODEL = []


def distillmos_model():
    """The distillMOS predictor in eval mode (loaded once per process)."""
    if not _MODEL:
        import distillmos

        with contextlib.redirect_stdout(io.StringIO()):  # it prints the weights path
            _MODEL.append(distillmos.ConvTransformerSQAModel().eval())
    return _MODEL[0]


def to_16k(clip, sampling_rate):
    """A mono float32 torch clip at 16 kHz."""
    wave = torch.as_tensor(numpy.asarray(clip, dtype=numpy.float32)).reshape(-1)
    if int(sampling_rate) != 16000:
        wave = torchaudio.functional.resample(wave, int(sampling_rate), 16000)
    return wave


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class DistillMos(evaluate.Measurement):
    def _info(self):
        return evaluate.MeasurementInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"audio": datasets.List(datasets.Value("float32"))}),
            reference_urls=["https://github.com/microsoft/Distill-MOS"],
        )

    def _compute(self, audio, sampling_rate=16000, min_seconds=0.1):
        model = distillmos_model()
        scores = []
        with torch.inference_mode():
            for clip in audio:
                wave = to_16k(clip, sampling_rate)
                if wave.numel() < min_seconds * 16000:
                    scores.append(None)
                    continue
                scores.append(float(model(wave[None]).squeeze()))
        scored = [s for s in scores if s is not None]
        return {
            "distillmos": float(numpy.mean(scored)) if scored else None,
            "scores": scores,
            "num_scored": len(scored),
            "num_skipped": len(scores) - len(scored),
        }
