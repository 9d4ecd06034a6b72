# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""ASR-WER and ASR-CER: the word / character error rate between a speech model's text answer and an ASR transcript of
its spoken answer. One `evaluate` module with two configurations, "wer" and "cer" (like evaluate's own multi-config
metrics), kept in the repository and loaded by path (the Hub copies of `wer` / `cer` cannot be reached offline):

    import evaluate
    asr_wer = evaluate.load("evaluation/metrics/asr_error_rate", "wer")
    asr_wer.compute(predictions=["the cat sat"], references=["The cat sat."])   # {"asr_wer": 0.0, ...}
    asr_cer = evaluate.load("evaluation/metrics/asr_error_rate", "cer")       # {"asr_cer": ...}
"""

import datasets
import evaluate
import jiwer
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

_DESCRIPTION = """
ASR-WER (LLaMA-Omni's speech-text alignment figure, configuration "wer") and its character-level twin ASR-CER
(configuration "cer", for languages and answers where word boundaries say little; spaces count as characters):
the corpus error rate (jiwer) of the transcripts of the spoken answers (`predictions`) against the text answers
(`references`), both normalised with transformers' Whisper English text normaliser (the normalisation of the
Whisper paper's WERs; no spelling map). Pairs whose normalised reference is empty are skipped and counted; an empty
transcript counts as all deletions.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): ASR transcripts of the spoken answers.
    references (`list` of `str`): the text answers.
    normalize (`str`, defaults to "whisper"): "whisper" (transformers' Whisper English normaliser) or "none" (the
        texts are compared as given, whitespace runs collapsed).
    per_example (`bool`, defaults to `False`): also return the error rate of every pair (None for a skipped pair).
Returns:
    asr_wer or asr_cer (`float` or `None`), after the configuration: the corpus error rate (None when no reference
        has a word).
    num_scored (`int`), num_skipped (`int`): pairs scored and pairs skipped for an empty reference.
    per_example (`list`): only with `per_example=True`.
Raises:
    ValueError: an unknown `normalize`.
Examples:
    >>> asr_wer = evaluate.load("evaluation/metrics/asr_error_rate", "wer")
    >>> asr_wer.compute(predictions=["it is 3 o'clock"], references=["It's three o'clock!"])["asr_wer"]
    0.0
    >>> asr_cer = evaluate.load("evaluation/metrics/asr_error_rate", "cer")
    >>> asr_cer.compute(predictions=["the cat"], references=["The bat."])["asr_cer"]
    0.14285714285714285
"""

_CITATION = """
@article{fang2024llamaomni,
  title={LLaMA-Omni: Seamless Speech Interaction with Large Language Models},
  author={Fang, Qingkai and Guo, Shoutao and Zhou, Yan and Ma, Zhengrui and Zhang, Shaolei and Feng, Yang},
  journal={arXiv preprint arXiv:2409.06666},
  year={2024}
}
"""

# configuration name -> the jiwer measure
_MEASURES = {"wer": jiwer.wer, "cer": jiwer.cer}
_NORMALIZER = []


def whisper_normalize(text):
    """transformers' Whisper English text normaliser (built once)."""
    if not _NORMALIZER:
        _NORMALIZER.append(EnglishTextNormalizer({}))
    return _NORMALIZER[0](text)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AsrErrorRate(evaluate.Metric):
    def _info(self):
        if self.config_name not in _MEASURES:
            raise KeyError(
                f"asr_error_rate has the configurations {sorted(_MEASURES)} (evaluate.load(path, 'wer')), "
                f"got {self.config_name!r}"
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
            reference_urls=["https://arxiv.org/abs/2409.06666", "https://github.com/jitsi/jiwer"],
        )

    def _compute(self, predictions, references, normalize="whisper", per_example=False):
        if normalize == "whisper":
            norm = whisper_normalize
        elif normalize == "none":
            norm = str
        else:
            raise ValueError(f"normalize must be 'whisper' or 'none', got {normalize!r}")
        name, measure = f"asr_{self.config_name}", _MEASURES[self.config_name]
        refs = [" ".join(norm(r or "").split()) for r in references]
        hyps = [" ".join(norm(h or "").split()) for h in predictions]
        keep = [i for i, r in enumerate(refs) if r]
        result = {
            name: float(measure([refs[i] for i in keep], [hyps[i] for i in keep])) if keep else None,
            "num_scored": len(keep),
            "num_skipped": len(refs) - len(keep),
        }
        if per_example:
            result["per_example"] = [float(measure(r, h)) if r else None for r, h in zip(refs, hyps)]
        return result
