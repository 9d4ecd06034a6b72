"""LLaMA-Omni as a transformers model.

Importing this package registers the model with the Auto classes: `AutoConfig` for `model_type="llama_omni"`,
`AutoModel` / `AutoModelForCausalLM` / `AutoModelForMultimodalLM` (what `pipeline("any-to-any")` loads) and
`AutoProcessor` (`processing.LlamaOmniProcessor`) for `LlamaOmniConfig`; and the unit vocoder (`AutoConfig` for
`model_type="llama_omni_unit_vocoder"`, `AutoModel` for `UnitVocoderConfig`), and LLaMA-Omni2's token-to-waveform
model (CosyVoice2's flow matching + HiFT: `model_type="llama_omni2_token2wav"`, `AutoModel`).
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMultimodalLM, AutoProcessor

from processing.processing_llama_omni import LlamaOmniProcessor

from .configuration_llama_omni import LlamaOmniConfig, parse_stream_params
from .configuration_token2wav import LlamaOmni2Token2WavConfig
from .configuration_unit_vocoder import UnitVocoderConfig
from .lexicon_readout import LlamaOmniLexiconAdaptor
from .whisper_readout import LlamaOmniWhisperReadoutAdaptor
from .modeling_llama_omni import (
    CTCUnitStream,
    LlamaOmniCausalLMOutputWithPast,
    LlamaOmniCTCSpeechDecoder,
    LlamaOmniForConditionalGeneration,
    LlamaOmniGenerateOutput,
    LlamaOmniModel,
    LlamaOmniModelOutputWithPast,
    LlamaOmniPreTrainedModel,
    LlamaOmniPhoneticAdaptor,
    LlamaOmniSpeechAdaptor,
    LlamaOmniSpeechEncoder,
    ctc_greedy_collapse,
    write_remote_code,
)
from .modeling_omni2_decoder import (
    ARSpeechDecoderOutput,
    ARUnitStream,
    LlamaOmniARSpeechDecoder,
    LlamaOmniGateFusion,
    read_write_layout,
)
from .modeling_token2wav import LlamaOmni2Token2Wav, LlamaOmni2Token2WavOutput, LlamaOmni2Token2WavStream
from .modeling_unit_vocoder import UnitVocoder, UnitVocoderOutput, UnitVocoderStream
from .streaming_llama_omni import (
    AudioStreamer,
    SpeechUnitVocoder,
    pick_device_and_dtype,
    release_openmp_threads,
    stream_generate,
)

AutoConfig.register(LlamaOmniConfig.model_type, LlamaOmniConfig, exist_ok=True)
AutoModel.register(LlamaOmniConfig, LlamaOmniForConditionalGeneration, exist_ok=True)
AutoModelForCausalLM.register(LlamaOmniConfig, LlamaOmniForConditionalGeneration, exist_ok=True)
AutoModelForMultimodalLM.register(LlamaOmniConfig, LlamaOmniForConditionalGeneration, exist_ok=True)
AutoProcessor.register(LlamaOmniConfig, LlamaOmniProcessor, exist_ok=True)
AutoConfig.register(UnitVocoderConfig.model_type, UnitVocoderConfig, exist_ok=True)
AutoModel.register(UnitVocoderConfig, UnitVocoder, exist_ok=True)
AutoConfig.register(LlamaOmni2Token2WavConfig.model_type, LlamaOmni2Token2WavConfig, exist_ok=True)
AutoModel.register(LlamaOmni2Token2WavConfig, LlamaOmni2Token2Wav, exist_ok=True)

__all__ = [
    "LlamaOmni2Token2WavConfig",
    "LlamaOmni2Token2Wav",
    "LlamaOmni2Token2WavOutput",
    "LlamaOmni2Token2WavStream",
    "UnitVocoderConfig",
    "UnitVocoder",
    "UnitVocoderOutput",
    "UnitVocoderStream",
    "LlamaOmniConfig",
    "LlamaOmniPreTrainedModel",
    "LlamaOmniModel",
    "LlamaOmniForConditionalGeneration",
    "LlamaOmniSpeechEncoder",
    "LlamaOmniLexiconAdaptor",
    "LlamaOmniWhisperReadoutAdaptor",
    "LlamaOmniPhoneticAdaptor",
    "LlamaOmniSpeechAdaptor",
    "LlamaOmniCTCSpeechDecoder",
    "LlamaOmniModelOutputWithPast",
    "LlamaOmniCausalLMOutputWithPast",
    "LlamaOmniGenerateOutput",
    "CTCUnitStream",
    "LlamaOmniARSpeechDecoder",
    "LlamaOmniGateFusion",
    "ARSpeechDecoderOutput",
    "ARUnitStream",
    "read_write_layout",
    "parse_stream_params",
    "SpeechUnitVocoder",
    "AudioStreamer",
    "stream_generate",
    "pick_device_and_dtype",
    "release_openmp_threads",
    "ctc_greedy_collapse",
    "write_remote_code",
]

# The whole Piper VITS voice as a unit vocoder (phoneme ids -> waveform).
from .configuration_vits_vocoder import LlamaOmniVitsVocoderConfig  # noqa: E402
from .modeling_vits_vocoder import (  # noqa: E402
    LlamaOmniVitsStream,
    LlamaOmniVitsVocoder,
    LlamaOmniVitsVocoderOutput,
)

AutoConfig.register(LlamaOmniVitsVocoderConfig.model_type, LlamaOmniVitsVocoderConfig, exist_ok=True)
AutoModel.register(LlamaOmniVitsVocoderConfig, LlamaOmniVitsVocoder, exist_ok=True)
__all__ += ["LlamaOmniVitsVocoderConfig", "LlamaOmniVitsVocoder", "LlamaOmniVitsVocoderOutput", "LlamaOmniVitsStream"]
