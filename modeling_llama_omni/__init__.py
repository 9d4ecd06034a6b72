"""LLaMA-Omni as a transformers model.

Importing this package registers the model with the Auto classes: `AutoConfig` for `model_type="llama_omni"`,
and `AutoModel` / `AutoModelForCausalLM` for `LlamaOmniConfig`.
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

from .configuration_llama_omni import LlamaOmniConfig
from .modeling_llama_omni import (
    CTCUnitStream,
    LlamaOmniCausalLMOutputWithPast,
    LlamaOmniCTCSpeechDecoder,
    LlamaOmniForConditionalGeneration,
    LlamaOmniGenerateOutput,
    LlamaOmniModel,
    LlamaOmniModelOutputWithPast,
    LlamaOmniPreTrainedModel,
    LlamaOmniSpeechAdaptor,
    LlamaOmniSpeechEncoder,
    ctc_greedy_collapse,
    write_remote_code,
)
from .streaming_llama_omni import AudioStreamer, stream_generate

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
    "LlamaOmniGenerateOutput",
    "CTCUnitStream",
    "AudioStreamer",
    "stream_generate",
    "ctc_greedy_collapse",
    "write_remote_code",
]
