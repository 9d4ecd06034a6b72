# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""ASR-WER: the word error rate between a speech model's text answer and an ASR transcript of its spoken answer.

An `evaluate` module kept in the repository and loaded by path (the Hub copy of `wer` cannot be reached offline):

    import evaluate
    asr_wer = evaluate.load("evaluation/metrics/asr_wer")
    asr_wer.compute(predictions=["the cat sat"], references=["The cat sat."])   # {"asr_wer": 0.0, ...}
"""

import datasets
import evaluate
import jiwer
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

_DESCRIPTION = """
ASR-WER (LLaMA-Omni's speech-text alignment figure): corpus word error rate (jiwer) of the transcripts of the spoken
answers (`predictions`) against the text answers (`references`), both normalised with transformers' Whisper English
text normaliser (the normalisation of the Whisper paper's WERs; no spelling map). Pairs whose normalised reference is
empty are skipped and counted; an empty transcript counts as all deletions.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `str`): ASR transcripts of the spoken answers.
    references (`list` of `str`): the text answers.
    normalize (`str`, defaults to "whisper"): "whisper" (transformers' Whisper English normaliser) or "none" (the
        texts are compared as given, split on whitespace).
    per_example (`bool`, defaults to `False`): also return the WER of every pair (None for a skipped pair).
Returns:
    asr_wer (`float` or `None`): the corpus WER (None when no reference has a word).
    num_scored (`int`), num_skipped (`int`): pairs scored and pairs skipped for an empty reference.
    per_example (`list`): only with `per_example=True`.
Raises:
    ValueError: an unknown `normalize`.
Examples:
    >>> asr_wer = evaluate.load("evaluation/metrics/asr_wer")
    >>> asr_wer.compute(predictions=["it is 3 o'clock"], references=["It's three o'clock!"])["asr_wer"]
    0.0
"""

_CITATION = """
@article{fang2024llamaomni,
  title={LLaMA-Omni: Seamless Speech Interaction with Large Language Models},
  author={Fang, Qingkai and Guo, Shoutao and Zhou, Yan and Ma, Zhengrui and Zhang, Shaolei and Feng, Yang},
  journal={arXiv preprint arXiv:2409.06666},
  year={2024}
}
"""

_NORMALIZER = []


def whisper_normalize(text):
    """transformers' Whisper English text normaliser (built once)."""
    if not _NORMALIZER:
        _NORMALIZER.append(EnglishTextNormalizer({}))
    return _NORMALIZER[0](text)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class AsrWer(evaluate.Metric):
    def _info(self):
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
        refs = [" ".join(norm(r or "").split()) for r in references]
        hyps = [" ".join(norm(h or "").split()) for h in predictions]
        keep = [i for i, r in enumerate(refs) if r]
        result = {
            "asr_wer": float(jiwer.wer([refs[i] for i in keep], [hyps[i] for i in keep])) if keep else None,
            "num_scored": len(keep),
            "num_skipped": len(refs) - len(keep),
        }
        if per_example:
            result["per_example"] = [float(jiwer.wer(r, h)) if r else None for r, h in zip(refs, hyps)]
        return result
