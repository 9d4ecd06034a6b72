"""Training code for LLaMA-Omni: the stage-1 / stage-2 trainers (`trainers.stages`), the unit-vocoder trainer
(`trainers.vocoder`), their YAML recipes (`trainers/recipes/`) and the training scripts (`trainers.scripts`: `llama-omni
train`, `llama-omni build-default`; `python -m trainers.cli` for launchers).

    from trainers import Stage1Config, LlamaOmniStage1Trainer, Stage2Config, LlamaOmniStage2Trainer
    from trainers import VocoderTrainingConfig, UnitVocoderTrainer

The names are imported lazily, so that `llama-omni` commands that do not train do not pay for importing TRL.
"""

import importlib

_LAZY = {
    "Stage1Config": "trainers.stages.stage1",
    "LlamaOmniStage1Trainer": "trainers.stages.stage1",
    "Stage2Config": "trainers.stages.stage2",
    "LlamaOmniStage2Trainer": "trainers.stages.stage2",
    "AdaptorWarmupConfig": "trainers.stages.adaptor_warmup",
    "warmup_adaptor": "trainers.stages.adaptor_warmup",
    "LlamaOmniCollator": "trainers.stages.collator",
    "SpeechInstructionEncoder": "trainers.stages.collator",
    "EncoderOutputCache": "trainers.stages.caches",
    "VocoderTrainingConfig": "trainers.vocoder",
    "UnitVocoderTrainer": "trainers.vocoder",
    "ModelArguments": "trainers.scripts.utils",
    "DataArguments": "trainers.scripts.utils",
    "parse_recipe": "trainers.scripts.utils",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainers' has no attribute {name!r}")


__all__ = sorted(_LAZY)
