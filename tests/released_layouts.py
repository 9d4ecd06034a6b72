"""Tiny checkpoints in the released layouts, shared by the converter and fidelity tests.

`Source` writes a tiny LLaMA-Omni checkpoint in the ORIGINAL layout (LLaVA-style names, openai-whisper encoder names,
transformers-4 config with `rope_scaling` + `rope_theta`, 2 shards + index) from reference modules
(`LlamaForCausalLM`, HF `WhisperEncoder`, `LlamaDecoderLayer`s); a converted model must reproduce them.
`make_llama3_tokenizer` is an offline stand-in for the stock Llama-3.1 tokenizer.
"""

from __future__ import annotations

import json
import os

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, WhisperConfig
from transformers.models.llama.modeling_llama import LlamaDecoderLayer
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from tests.tiny_models import TINY_VOCAB, tiny_text_config, tiny_whisper_config

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
EOT = "<|eot_id|>"
LLAMA3_PAD = "<|finetune_right_pad_id|>"
LLAMA3_SPECIAL_TOKENS = [BOS, EOS, "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
                         "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>",
                         "<|end_header_id|>", "<|eom_id|>", EOT]
# Words of the released system prompt and instruction, and a few more, for the tokenizer's merges.
_LLAMA3_CORPUS = [
    "You are a helpful language and speech assistant. You are able to understand the speech content that the "
    "user provides, and assist the user with a variety of tasks using natural language.",
    "Please directly answer the questions in the user's speech.",
    "system user assistant. The quick brown fox jumps over the lazy dog. What is the weather like today?",
]


def make_llama3_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer shaped like the stock Llama-3.1 one: its special tokens (in Llama-3's order after
    the ordinary tokens, `<|finetune_right_pad_id|>` among them), BOS prepended by the post-processor, EOS
    `<|eot_id|>`, and no pad token. Built offline, deterministic."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, min_frequency=2, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    backend.train_from_iterator(_LLAMA3_CORPUS, trainer=trainer)
    backend.add_special_tokens(LLAMA3_SPECIAL_TOKENS)
    bos_id = backend.token_to_id(BOS)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=EOT)


DS_RATE = 5
ADAPTOR_HIDDEN = 40
UNIT_VOCAB = 20
UPSAMPLE = 3
CTC = (2, 16, 2, 32)  # layers, hidden, heads, FFN
ROPE_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 256,
}
ROPE_THETA = 500000.0

# transformers' WhisperEncoder names -> openai-whisper names (the inverse of the converter's rules).
_HF_TO_OPENAI = (
    ("self_attn.q_proj", "attn.query"),
    ("self_attn.k_proj", "attn.key"),
    ("self_attn.v_proj", "attn.value"),
    ("self_attn.out_proj", "attn.out"),
    ("self_attn_layer_norm", "attn_ln"),
    ("fc1", "mlp.0"),
    ("fc2", "mlp.2"),
    ("final_layer_norm", "mlp_ln"),
)


def openai_whisper_name(name: str) -> str:
    """A transformers WhisperEncoder parameter name -> its openai-whisper name (under `encoder.`)."""
    if name == "embed_positions.weight":
        return "positional_embedding"
    if name.startswith("layer_norm."):
        return "ln_post." + name[len("layer_norm.") :]
    if name.startswith("layers."):
        _, index, rest = name.split(".", 2)
        for ours, theirs in _HF_TO_OPENAI:
            if rest.startswith(ours + "."):
                rest = theirs + rest[len(ours) :]
                break
        return f"blocks.{index}.{rest}"
    return name  # conv1, conv2


class Source:
    """
    A tiny checkpoint in the original layout, and the reference modules it was made from.

    Args:
        root: the folder to write `original/` in.
        tokenizer: `True`: a word-level tokenizer over the tiny vocabulary; `"llama3"`: a stock-Llama-3.1-style
            tokenizer (byte-level BPE, the Llama-3 special tokens, BOS added by its post-processor, no pad token;
            see `make_llama3_tokenizer`), with Llama-3.1-Instruct's sampling `generation_config.json`; the LLM's
            vocabulary is then the tokenizer's.
        tie: tie the LLM's input and output embeddings (no `lm_head.weight` in the checkpoint).
        encoder_in_checkpoint: keep the Whisper encoder's weights in the safetensors (the released checkpoint
            does; a release may not, and the released loader reads them from `large-v3.pt` anyway).
    """

    def __init__(self, root, tokenizer: bool | str = False, tie: bool = False, encoder_in_checkpoint: bool = True):
        torch.manual_seed(0)
        self.dir = str(root / "original")
        os.makedirs(self.dir)
        text_fields = tiny_text_config()
        text_fields.pop("model_type")
        text_fields.pop("rope_parameters")
        text_fields["tie_word_embeddings"] = tie
        self.tokenizer = None
        if tokenizer == "llama3":
            self.tokenizer = make_llama3_tokenizer()
            vocab = self.tokenizer.get_vocab()
            text_fields.update(
                vocab_size=len(self.tokenizer),
                bos_token_id=vocab[BOS],
                eos_token_id=vocab[EOT],
                pad_token_id=None,
            )
        self.text_fields = text_fields
        self.llm = LlamaForCausalLM(
            LlamaConfig(**text_fields, rope_parameters={**ROPE_SCALING, "rope_theta": ROPE_THETA})
        ).eval()
        # Whisper heads are always 64 wide: the converter infers the head count from d_model.
        self.whisper_config = WhisperConfig(**tiny_whisper_config(d_model=128, encoder_attention_heads=2))
        self.encoder = WhisperEncoder(self.whisper_config).eval()
        with torch.no_grad():  # a random (not sinusoidal) table, so that a wrong mapping shows
            self.encoder.embed_positions.weight.normal_()
        d_model = self.whisper_config.d_model
        hidden = text_fields["hidden_size"]
        self.adaptor = nn.ModuleDict(
            {"linear1": nn.Linear(d_model * DS_RATE, ADAPTOR_HIDDEN), "linear2": nn.Linear(ADAPTOR_HIDDEN, hidden)}
        )
        layers, dec_hidden, heads, ffn = CTC
        dec_config = LlamaConfig(
            hidden_size=dec_hidden, intermediate_size=ffn, num_attention_heads=heads, num_key_value_heads=heads
        )
        self.generator = nn.ModuleDict(
            {
                "input_proj": nn.Linear(hidden, dec_hidden),
                "layers": nn.ModuleList([LlamaDecoderLayer(dec_config, i) for i in range(layers)]),
                "output_proj": nn.Linear(dec_hidden, UNIT_VOCAB + 1),
            }
        )
        with torch.no_grad():  # RMSNorm weights start at 1: make them distinguishable
            for name, p in self.generator.named_parameters():
                if "layernorm" in name:
                    p.normal_()

        state = {}
        for name, tensor in self.llm.state_dict().items():
            if tie and name == "lm_head.weight":
                continue
            state[name] = tensor
        for name, tensor in self.encoder.state_dict().items():
            if encoder_in_checkpoint:
                state["model.speech_encoder." + openai_whisper_name(name)] = tensor
        assert "model.speech_encoder.blocks.0.attn.key.bias" not in state
        for name, tensor in self.adaptor.state_dict().items():
            state["model.speech_projector." + name] = tensor
        for name, tensor in self.generator.state_dict().items():
            state["speech_generator." + name] = tensor
        self.state = {k: v.detach().clone().contiguous() for k, v in state.items()}

        self.config = {
            "architectures": ["OmniSpeech2SLlamaForCausalLM"],
            "model_type": "omni_speech2s_llama",
            **text_fields,
            "hidden_act": "silu",
            "rms_norm_eps": self.llm.config.rms_norm_eps,
            "attention_bias": False,
            "mlp_bias": False,
            "pretraining_tp": 1,
            "rope_scaling": dict(ROPE_SCALING),
            "rope_theta": ROPE_THETA,
            "torch_dtype": "float32",
            "transformers_version": "4.43.4",
            "use_cache": True,
            "speech_encoder": "models/speech_encoder/large-v3.pt",
            "speech_encoder_type": "whisper",
            "speech_encoder_ds_rate": DS_RATE,
            "speech_encoder_hidden_size": d_model,
            "speech_projector_type": "linear",
            "speech_generator_type": "ctc",
            "ctc_decoder_config": "(" + ",".join(map(str, CTC)) + ")",
            "ctc_upsample_factor": UPSAMPLE,
            "ctc_loss_weight": 1.0,
            "unit_vocab_size": UNIT_VOCAB,
            "tune_speech_projector": False,
            "tokenizer_model_max_length": 2048,
        }
        if tokenizer == "llama3":
            self.tokenizer.save_pretrained(self.dir)
            eos = [vocab[EOS], vocab[EOT]]
            with open(os.path.join(self.dir, "generation_config.json"), "w") as f:  # as Llama-3.1-8B-Instruct's
                json.dump({"bos_token_id": vocab[BOS], "do_sample": True, "eos_token_id": eos, "temperature": 0.6,
                           "top_p": 0.9, "transformers_version": "4.43.4"}, f)
        elif tokenizer:
            self._write_tokenizer()
        self.write()

    def _write_tokenizer(self) -> None:
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        vocab = {f"w{i}": i for i in range(TINY_VOCAB - 1)}
        vocab["<unk>"] = TINY_VOCAB - 1
        backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="w1", eos_token="w2")
        tokenizer.save_pretrained(self.dir)

    def write(self, state: dict | None = None, config: dict | None = None, folder: str | None = None) -> None:
        """(Re)writes the weights in 2 shards + index, and config.json (into `folder`, by default `self.dir`)."""
        state = self.state if state is None else state
        config = self.config if config is None else config
        folder = self.dir if folder is None else folder
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".safetensors") or name.endswith(".index.json"):
                os.remove(os.path.join(folder, name))
        keys = list(state)
        halves = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
        weight_map = {}
        for i, part in enumerate(halves, start=1):
            file_name = f"model-{i:05d}-of-00002.safetensors"
            save_file({k: state[k] for k in part}, os.path.join(folder, file_name), metadata={"format": "pt"})
            weight_map.update({k: file_name for k in part})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, f)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(config, f)

    def write_openai_whisper(self, path: str) -> str:
        """Saves the reference encoder as openai-whisper saves a model (`dims` + `model_state_dict`, with a token
        embedding standing for the decoder, which the converter must ignore)."""
        d_model = self.whisper_config.d_model
        state = {"encoder." + openai_whisper_name(k): v.clone() for k, v in self.encoder.state_dict().items()}
        state["decoder.token_embedding.weight"] = torch.zeros(10, d_model)
        dims = {
            "n_mels": self.whisper_config.num_mel_bins,
            "n_audio_ctx": self.whisper_config.max_source_positions,
            "n_audio_state": d_model,
            "n_audio_head": d_model // 64,
            "n_audio_layer": self.whisper_config.encoder_layers,
            "n_vocab": 10,
            "n_text_ctx": 8,
            "n_text_state": d_model,
            "n_text_head": d_model // 64,
            "n_text_layer": 1,
        }
        torch.save({"dims": dims, "model_state_dict": state}, path)
        return path

    def write_transformers_whisper(self, folder: str) -> str:
        """Saves a transformers `WhisperModel` whose encoder is the reference encoder."""
        from transformers import WhisperModel

        model = WhisperModel(self.whisper_config)
        model.encoder.load_state_dict(self.encoder.state_dict())
        model.save_pretrained(folder)
        return folder

    def llm_state(self) -> dict:
        """The LLM's weights as a Llama base checkpoint names them (`model.*`, `lm_head.*`)."""
        return {k: v for k, v in self.state.items() if k.startswith(("model.layers.", "model.embed_tokens.",
                                                                      "model.norm.", "lm_head."))}

    def llama_config(self) -> dict:
        """config.json of the LLM as a Llama base (e.g. Llama-3.1-8B-Instruct) has it."""
        keep = {k: v for k, v in self.config.items() if k in self.text_fields or k in ("rope_scaling", "rope_theta")}
        return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **keep, "hidden_act": "silu",
                "rms_norm_eps": self.llm.config.rms_norm_eps}
