"""Training code for LLaMA-Omni (stage-1 / stage-2 / vocoder trainers, collators, recipes) and the `llama-omni`
command line.

    from trainers import Stage1Config, LlamaOmniStage1Trainer, Stage2Config, LlamaOmniStage2Trainer
    from trainers import VocoderTrainingConfig, UnitVocoderTrainer

The names are imported lazily, so that `llama-omni` commands that do not train do not pay for importing TRL.
"""

import importlib

_LAZY = {
    "Stage1Config": "trainers.stage1",
    "LlamaOmniStage1Trainer": "trainers.stage1",
    "Stage2Config": "trainers.stage2",
    "LlamaOmniStage2Trainer": "trainers.stage2",
    "VocoderTrainingConfig": "trainers.vocoder",
    "UnitVocoderTrainer": "trainers.vocoder",
    "LlamaOmniCollator": "trainers.data",
    "SpeechInstructionEncoder": "trainers.data",
    "EncoderOutputCache": "trainers.data",
    "ModelArguments": "trainers.train",
    "DataArguments": "trainers.train",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainers' has no attribute {name!r}")


__all__ = sorted(_LAZY)
