"""LLaMA-Omni as a transformers model.

Importing this package registers the model with the Auto classes: `AutoConfig` for `model_type="llama_omni"`,
and `AutoModel` / `AutoModelForCausalLM` for `LlamaOmniConfig`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_llama_omni import LlamaOmniConfig
from .modeling_llama_omni import (
    LlamaOmniCausalLMOutputWithPast,
    LlamaOmniCTCSpeechDecoder,
    LlamaOmniForConditionalGeneration,
    LlamaOmniModel,
    LlamaOmniModelOutputWithPast,
    LlamaOmniPreTrainedModel,
    LlamaOmniSpeechAdaptor,
    LlamaOmniSpeechEncoder,
    ctc_greedy_collapse,
    write_remote_code,
)

AutoConfig.register(LlamaOmniConfig.model_type, LlamaOmniConfig, exist_ok=True)
AutoModel.register(LlamaOmniConfig, LlamaOmniForConditionalGeneration, exist_ok=True)
AutoModelForCausalLM.register(LlamaOmniConfig, LlamaOmniForConditionalGeneration, exist_ok=True)

__all__ = [
    "LlamaOmniConfig",
    "LlamaOmniPreTrainedModel",
    "LlamaOmniModel",
    "LlamaOmniForConditionalGeneration",
    "LlamaOmniSpeechEncoder",
    "LlamaOmniSpeechAdaptor",
    "LlamaOmniCTCSpeechDecoder",
    "LlamaOmniModelOutputWithPast",
    "LlamaOmniCausalLMOutputWithPast",
    "ctc_greedy_collapse",
    "write_remote_code",
]
