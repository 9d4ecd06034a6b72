"""An independent, functional reproduction of the released CosyVoice2 token-to-waveform path (test helper, no tests).

LLaMA-Omni2 turns speech units into a waveform with CosyVoice2's flow-matching decoder and HiFT vocoder, driven by
`llama_omni2/inference/run_cosy2_decoder.py` (`SpeechDecoder`). This module recomputes that path step by step from
the raw released state-dict tensors (`F.linear`, `F.conv1d`, softmax or SDPA, ...), written from a reading of the
vendored CosyVoice (`cosyvoice/flow`, `cosyvoice/transformer`, `cosyvoice/hifigan`), matcha-tts 0.0.7.2 and the
diffusers 0.29 attention it uses, so that the equivalence tests compare our modules against something that shares
no code with them. It also writes tiny checkpoints in the released layout (`flow.pt`, `hift.pt`, `cosyvoice.yaml`).

Hard-coded sizes of the release that the tiny configuration keeps: 80 mel bins in the CFG buffers of
`ConditionalCFM.solve_euler`, 480 waveform samples per mel frame in the HiFT caches, 4 upsampled conformer blocks,
a pre-lookahead of 3 tokens and an upsampling stride of 2 in `UpsampleConformerEncoder`. The release also hard-codes
512 channels for `pre_lookahead_layer` and `up_layer`; that equals `output_size` in the real model, and here those
layers take the encoder's `output_size` (the tiny released module must be patched the same way to load our files).
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
import torch.nn.functional as F
import yaml

TINY_FLOW = {
    "input_size": 16, "output_size": 80, "spk_embed_dim": 8, "vocab_size": 40, "input_frame_rate": 25,
    "token_mel_ratio": 2, "pre_lookahead_len": 3,
    "encoder": {"output_size": 16, "attention_heads": 2, "linear_units": 32, "num_blocks": 2, "normalize_before": True,
                "input_layer": "linear", "pos_enc_layer_type": "rel_pos_espnet",
                "selfattention_layer_type": "rel_selfattn", "input_size": 16, "use_cnn_module": False,
                "macaron_style": False, "static_chunk_size": 50},
    "decoder": {"in_channels": 240, "n_spks": 1, "spk_emb_dim": 80,
                "cfm_params": {"sigma_min": 1e-06, "solver": "euler", "t_scheduler": "cosine",
                               "training_cfg_rate": 0.2, "inference_cfg_rate": 0.7, "reg_loss_type": "l1"},
                "estimator": {"in_channels": 320, "out_channels": 80, "causal": True, "channels": [32],
                              "dropout": 0.0, "attention_head_dim": 8, "n_blocks": 1, "num_mid_blocks": 1,
                              "num_heads": 2, "act_fn": "gelu", "static_chunk_size": 100}}}
TINY_HIFT = {
    "in_channels": 80, "base_channels": 16, "nb_harmonics": 2, "sampling_rate": 24000, "nsf_alpha": 0.1,
    "nsf_sigma": 0.003, "nsf_voiced_threshold": 10, "upsample_rates": [8, 5, 3], "upsample_kernel_sizes": [16, 11, 7],
    "istft_params": {"n_fft": 16, "hop_len": 4}, "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "source_resblock_kernel_sizes": [7, 7, 11],
    "source_resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "lrelu_slope": 0.1, "audio_limit": 0.99,
    "f0_predictor": {"num_class": 1, "in_channels": 80, "cond_channels": 16}}

NUM_UP_BLOCKS = 4  # UpsampleConformerEncoder: `for _ in range(4)` up_encoders
UP_STRIDE = 2  # UpsampleConformerEncoder: Upsample1D(stride=2)
ENCODER_LOOKAHEAD = 3  # UpsampleConformerEncoder: PreLookaheadLayer(pre_lookahead_len=3)
MEL_BINS = 80  # ConditionalCFM.solve_euler: torch.zeros([2, 80, T])
SAMPLES_PER_MEL = 480  # SpeechDecoder: source_cache_len = mel_cache_len * 480
MEL_CACHE_LEN = 8  # SpeechDecoder.mel_cache_len


# ----------------------------------------------------------------------------------------------------------------
# Released-layout checkpoints
# ----------------------------------------------------------------------------------------------------------------

def _hift_rates(cfg):
    """HiFTGenerator.__init__: the source-branch down-sampling factor of each stage, `[1] + up[::-1][:-1]`
    cumulated, read backwards."""
    down = np.cumprod([1] + list(cfg["upsample_rates"])[::-1][:-1])[::-1]
    return [int(u) for u in down]


def flow_shapes(flow_config: dict) -> dict:
    """Name -> shape of every tensor in the released `CausalMaskedDiffWithXvec` state dict (CausalConditionalCFM with
    a causal ConditionalDecoder; UpsampleConformerEncoder with linear input layer, rel-pos attention, no conv module,
    no macaron FFN, key_bias True)."""
    enc, est = flow_config["encoder"], flow_config["decoder"]["estimator"]
    d, units, heads = enc["output_size"], enc["linear_units"], enc["attention_heads"]
    if enc.get("use_cnn_module", True) or enc.get("macaron_style", True) or enc.get("input_layer") != "linear":
        raise ValueError("only the CosyVoice2 encoder variant (linear input, no conv module, no macaron) is reproduced")
    if not est.get("causal", False):
        raise ValueError("only the causal ConditionalDecoder (CausalBlock1D, LayerNorm) is reproduced")
    shapes = {"input_embedding.weight": (flow_config["vocab_size"], flow_config["input_size"]),
              "spk_embed_affine_layer.weight": (flow_config["output_size"], flow_config["spk_embed_dim"]),
              "spk_embed_affine_layer.bias": (flow_config["output_size"],)}

    def linear(name, n_out, n_in, bias=True):
        shapes[name + ".weight"] = (n_out, n_in)
        if bias:
            shapes[name + ".bias"] = (n_out,)

    def norm(name, n):
        shapes[name + ".weight"] = (n,)
        shapes[name + ".bias"] = (n,)

    def conv(name, n_out, n_in, k):
        shapes[name + ".weight"] = (n_out, n_in, k)
        shapes[name + ".bias"] = (n_out,)

    def conformer(prefix):
        attn = prefix + "self_attn."
        for proj in ("linear_q", "linear_k", "linear_v", "linear_out"):
            linear(attn + proj, d, d)
        linear(attn + "linear_pos", d, d, bias=False)
        shapes[attn + "pos_bias_u"] = shapes[attn + "pos_bias_v"] = (heads, d // heads)
        linear(prefix + "feed_forward.w_1", units, d)
        linear(prefix + "feed_forward.w_2", d, units)
        norm(prefix + "norm_ff", d)
        norm(prefix + "norm_mha", d)

    linear("encoder.embed.out.0", d, enc["input_size"])
    norm("encoder.embed.out.1", d)
    norm("encoder.after_norm", d)
    conv("encoder.pre_lookahead_layer.conv1", d, d, ENCODER_LOOKAHEAD + 1)
    conv("encoder.pre_lookahead_layer.conv2", d, d, 3)
    for i in range(enc["num_blocks"]):
        conformer(f"encoder.encoders.{i}.")
    conv("encoder.up_layer.conv", d, d, 2 * UP_STRIDE + 1)
    linear("encoder.up_embed.out.0", d, enc["input_size"])
    norm("encoder.up_embed.out.1", d)
    for i in range(NUM_UP_BLOCKS):
        conformer(f"encoder.up_encoders.{i}.")
    linear("encoder_proj", flow_config["output_size"], d)

    p = "decoder.estimator."
    channels, time_dim = list(est["channels"]), est["channels"][0] * 4
    inner = est["num_heads"] * est["attention_head_dim"]
    linear(p + "time_mlp.linear_1", time_dim, est["in_channels"])
    linear(p + "time_mlp.linear_2", time_dim, time_dim)

    def resnet(prefix, n_in, n_out):
        linear(prefix + "mlp.1", n_out, time_dim)
        conv(prefix + "block1.block.0", n_out, n_in, 3)
        norm(prefix + "block1.block.2", n_out)
        conv(prefix + "block2.block.0", n_out, n_out, 3)
        norm(prefix + "block2.block.2", n_out)
        conv(prefix + "res_conv", n_out, n_in, 1)

    def transformers(prefix, n):
        for j in range(est["n_blocks"]):
            b = f"{prefix}{j}."
            norm(b + "norm1", n)
            for proj in ("to_q", "to_k", "to_v"):
                linear(b + "attn1." + proj, inner, n, bias=False)
            linear(b + "attn1.to_out.0", n, inner)
            norm(b + "norm3", n)
            linear(b + "ff.net.0.proj", 4 * n, n)
            linear(b + "ff.net.2", n, 4 * n)

    n_out = est["in_channels"]
    for i, ch in enumerate(channels):
        n_in, n_out = n_out, ch
        resnet(f"{p}down_blocks.{i}.0.", n_in, n_out)
        transformers(f"{p}down_blocks.{i}.1.", n_out)
        last = i == len(channels) - 1
        conv(f"{p}down_blocks.{i}.2" + ("" if last else ".conv"), n_out, n_out, 3)
    for i in range(est["num_mid_blocks"]):
        resnet(f"{p}mid_blocks.{i}.0.", channels[-1], n_out)
        transformers(f"{p}mid_blocks.{i}.1.", n_out)
    ups = channels[::-1] + [channels[0]]
    for i in range(len(ups) - 1):
        resnet(f"{p}up_blocks.{i}.0.", 2 * ups[i], ups[i + 1])
        transformers(f"{p}up_blocks.{i}.1.", ups[i + 1])
        last = i == len(ups) - 2
        conv(f"{p}up_blocks.{i}.2" + ("" if last else ".conv"), ups[i + 1], ups[i + 1], 3 if last else 4)
    conv(p + "final_block.block.0", ups[-1], ups[-1], 3)
    norm(p + "final_block.block.2", ups[-1])
    conv(p + "final_proj", est["out_channels"], ups[-1], 1)
    return shapes


def hift_shapes(hift_config: dict) -> dict:
    """Name -> shape of every tensor in the released `HiFTGenerator` state dict, without the `generator.` prefix,
    weight-normed convolutions (old `torch.nn.utils.weight_norm`, dim 0) as `weight_g`/`weight_v`."""
    cfg, shapes = hift_config, {}
    n_fft, base = cfg["istft_params"]["n_fft"], cfg["base_channels"]

    def conv(name, n_out, n_in, k, wn=True, transpose=False):
        weight = (n_in, n_out, k) if transpose else (n_out, n_in, k)
        if wn:
            shapes[name + ".weight_g"] = (weight[0], 1, 1)
            shapes[name + ".weight_v"] = weight
        else:
            shapes[name + ".weight"] = weight
        shapes[name + ".bias"] = (n_out,)

    def resblock(prefix, ch, k, dilations):
        for j in range(len(dilations)):
            conv(f"{prefix}convs1.{j}", ch, ch, k)
            conv(f"{prefix}convs2.{j}", ch, ch, k)
            shapes[f"{prefix}activations1.{j}.alpha"] = shapes[f"{prefix}activations2.{j}.alpha"] = (ch,)

    shapes["m_source.l_linear.weight"] = (1, cfg["nb_harmonics"] + 1)
    shapes["m_source.l_linear.bias"] = (1,)
    conv("conv_pre", base, cfg["in_channels"], 7)
    for i, (u, k) in enumerate(zip(cfg["upsample_rates"], cfg["upsample_kernel_sizes"])):
        conv(f"ups.{i}", base // 2 ** (i + 1), base // 2 ** i, k, transpose=True)
    for i, (u, k, dil) in enumerate(zip(_hift_rates(cfg), cfg["source_resblock_kernel_sizes"],
                                        cfg["source_resblock_dilation_sizes"])):
        conv(f"source_downs.{i}", base // 2 ** (i + 1), n_fft + 2, 1 if u == 1 else 2 * u, wn=False)
        resblock(f"source_resblocks.{i}.", base // 2 ** (i + 1), k, dil)
    for i in range(len(cfg["upsample_rates"])):
        for j, (k, dil) in enumerate(zip(cfg["resblock_kernel_sizes"], cfg["resblock_dilation_sizes"])):
            resblock(f"resblocks.{i * len(cfg['resblock_kernel_sizes']) + j}.", base // 2 ** (i + 1), k, dil)
    conv("conv_post", n_fft + 2, base // 2 ** len(cfg["upsample_rates"]), 7)
    f0 = cfg["f0_predictor"]
    for i in range(5):
        n_in = f0["in_channels"] if i == 0 else f0["cond_channels"]
        conv(f"f0_predictor.condnet.{2 * i}", f0["cond_channels"], n_in, 3)
    shapes["f0_predictor.classifier.weight"] = (f0["num_class"], f0["cond_channels"])
    shapes["f0_predictor.classifier.bias"] = (f0["num_class"],)
    return shapes


def _random_tensor(name: str, shape: tuple, gen: torch.Generator, scale: float) -> torch.Tensor:
    """Lively but finite values: weights ~ N(0, scale^2 / fan_in), LayerNorm weights near 1, weight-norm g positive
    (scale * [0.3, 0.6] in ResBlocks and conv_post, scale * [0.6, 1.2] elsewhere; speech std ~0.3, ~1% clamped),
    Snake alphas in [0.5, 1.5], an f0 classifier giving |f0| mostly in the voiced hundreds of Hz."""
    randn = torch.randn(shape, generator=gen)
    uniform = torch.rand(shape, generator=gen)
    leaf = name.rsplit(".", 1)[-1]
    if name.startswith("f0_predictor.classifier"):
        return randn * 80.0 + (120.0 if leaf == "bias" else 0.0)
    if name.startswith("m_source.l_linear"):
        return randn * 3.0
    if leaf == "alpha":
        return 0.5 + uniform
    if leaf == "weight_g":  # row norms: residual branches and conv_post kept small so exp(magnitude) stays sane
        low = 0.3 if name.startswith("conv_post") or ".convs" in name else 0.6
        return scale * low * (1.0 + uniform)
    if leaf == "bias" or leaf.startswith("pos_bias"):
        return randn * 0.1
    if len(shape) == 1:  # LayerNorm weight
        return 1.0 + 0.1 * randn
    if name == "input_embedding.weight" or leaf == "weight_v":
        return randn
    fan_in = shape[1] * (shape[2] if len(shape) == 3 else 1)
    return randn * scale / math.sqrt(fan_in)


_YAML_TEMPLATE = """\
# set random seed, so that you may reproduce your result.
__set_seed1: !apply:random.seed [1986]
__set_seed2: !apply:numpy.random.seed [1986]
__set_seed3: !apply:torch.manual_seed [1986]
__set_seed4: !apply:torch.cuda.manual_seed_all [1986]

# fixed params
sample_rate: {sample_rate}
llm_input_size: 896
llm_output_size: 896
spk_embed_dim: {spk_embed_dim}
qwen_pretrain_path: ''
token_frame_rate: {input_frame_rate}
token_mel_ratio: {token_mel_ratio}

# stream related params
chunk_size: 25 # streaming inference chunk size, in token

# model params
llm: !new:cosyvoice.llm.llm.Qwen2LM
    llm_input_size: !ref <llm_input_size>
    llm_output_size: !ref <llm_output_size>
    speech_token_size: 6561
    length_normalized_loss: True
    lsm_weight: 0
    llm: !new:cosyvoice.llm.llm.Qwen2Encoder
        pretrain_path: !ref <qwen_pretrain_path>
    sampling: !name:cosyvoice.utils.common.ras_sampling
        top_p: 0.8
        top_k: 25
        win_size: 10
        tau_r: 0.1

flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec
    input_size: {input_size}
    output_size: {output_size}
    spk_embed_dim: !ref <spk_embed_dim>
    output_type: 'mel'
    vocab_size: {vocab_size}
    input_frame_rate: !ref <token_frame_rate>
    only_mask_loss: True
    token_mel_ratio: !ref <token_mel_ratio>
    pre_lookahead_len: {pre_lookahead_len}
    encoder: !new:cosyvoice.transformer.upsample_encoder.UpsampleConformerEncoder
        output_size: {enc[output_size]}
        attention_heads: {enc[attention_heads]}
        linear_units: {enc[linear_units]}
        num_blocks: {enc[num_blocks]}
        dropout_rate: 0.1
        positional_dropout_rate: 0.1
        attention_dropout_rate: 0.1
        normalize_before: {enc[normalize_before]}
        input_layer: '{enc[input_layer]}'
        pos_enc_layer_type: '{enc[pos_enc_layer_type]}'
        selfattention_layer_type: '{enc[selfattention_layer_type]}'
        input_size: {enc[input_size]}
        use_cnn_module: {enc[use_cnn_module]}
        macaron_style: {enc[macaron_style]}
        static_chunk_size: !ref <chunk_size>
    decoder: !new:cosyvoice.flow.flow_matching.CausalConditionalCFM
        in_channels: {dec[in_channels]}
        n_spks: {dec[n_spks]}
        spk_emb_dim: {dec[spk_emb_dim]}
        cfm_params: !new:omegaconf.DictConfig
            content:
                sigma_min: 1e-06
                solver: 'euler'
                t_scheduler: 'cosine'
                training_cfg_rate: 0.2
                inference_cfg_rate: {cfm[inference_cfg_rate]}
                reg_loss_type: 'l1'
        estimator: !new:cosyvoice.flow.decoder.ConditionalDecoder
            in_channels: {est[in_channels]}
            out_channels: {est[out_channels]}
            causal: {est[causal]}
            channels: {est[channels]}
            dropout: {est[dropout]}
            attention_head_dim: {est[attention_head_dim]}
            n_blocks: {est[n_blocks]}
            num_mid_blocks: {est[num_mid_blocks]}
            num_heads: {est[num_heads]}
            act_fn: '{est[act_fn]}'

hift: !new:cosyvoice.hifigan.generator.HiFTGenerator
    in_channels: {hift[in_channels]}
    base_channels: {hift[base_channels]}
    nb_harmonics: {hift[nb_harmonics]}
    sampling_rate: !ref <sample_rate>
    nsf_alpha: {hift[nsf_alpha]}
    nsf_sigma: {hift[nsf_sigma]}
    nsf_voiced_threshold: {hift[nsf_voiced_threshold]}
    upsample_rates: {hift[upsample_rates]}
    upsample_kernel_sizes: {hift[upsample_kernel_sizes]}
    istft_params:
        n_fft: {hift[istft_params][n_fft]}
        hop_len: {hift[istft_params][hop_len]}
    resblock_kernel_sizes: {hift[resblock_kernel_sizes]}
    resblock_dilation_sizes: {hift[resblock_dilation_sizes]}
    source_resblock_kernel_sizes: {hift[source_resblock_kernel_sizes]}
    source_resblock_dilation_sizes: {hift[source_resblock_dilation_sizes]}
    lrelu_slope: {hift[lrelu_slope]}
    audio_limit: {hift[audio_limit]}
    f0_predictor: !new:cosyvoice.hifigan.f0_predictor.ConvRNNF0Predictor
        num_class: {f0[num_class]}
        in_channels: {f0[in_channels]}
        cond_channels: {f0[cond_channels]}

# processor functions
get_tokenizer: !name:cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer
    token_path: !ref <qwen_pretrain_path>
    skip_special_tokens: True
allowed_special: 'all'
"""


def write_released_checkpoint(directory, flow_config: dict = TINY_FLOW, hift_config: dict = TINY_HIFT, seed: int = 0,
                              scale: float = 1.0) -> dict:
    """Write `flow.pt`, `hift.pt` (keys prefixed `generator.`) and a hyperpyyaml `cosyvoice.yaml` in the layout of the
    released CosyVoice2-0.5B folder, with seeded random values.

    The yaml keeps the released file's static chunk sizes (encoder `!ref <chunk_size>` = 25, none for the causal
    `ConditionalDecoder`); LLaMA-Omni2 overrides them at run time. Returns `{"flow": flow_sd, "hift": hift_sd}` with
    hift_sd keyed as in `hift.pt` (prefixed). `scale` multiplies the weight spreads. Raises ValueError for encoder or
    estimator variants other than CosyVoice2's.
    """
    os.makedirs(directory, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    flow_sd = {k: _random_tensor(k, s, gen, scale) for k, s in flow_shapes(flow_config).items()}
    hift_sd = {"generator." + k: _random_tensor(k, s, gen, scale) for k, s in hift_shapes(hift_config).items()}
    torch.save(flow_sd, os.path.join(directory, "flow.pt"))
    torch.save(hift_sd, os.path.join(directory, "hift.pt"))
    text = _YAML_TEMPLATE.format(
        sample_rate=hift_config["sampling_rate"], enc=flow_config["encoder"], dec=flow_config["decoder"],
        cfm=flow_config["decoder"]["cfm_params"], est=flow_config["decoder"]["estimator"], hift=hift_config,
        f0=hift_config["f0_predictor"], **{k: v for k, v in flow_config.items() if not isinstance(v, dict)})
    with open(os.path.join(directory, "cosyvoice.yaml"), "w") as f:
        f.write(text)
    return {"flow": flow_sd, "hift": hift_sd}


def read_released_yaml(path) -> dict:
    """Parse a hyperpyyaml file with plain PyYAML (tags dropped, `!ref <key>` resolved for top-level keys) - enough to
    sanity-check what `write_released_checkpoint` wrote."""
    class Loader(yaml.SafeLoader):
        pass

    def untag(loader, suffix, node):
        if isinstance(node, yaml.MappingNode):
            return loader.construct_mapping(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_scalar(node)

    Loader.add_multi_constructor("!", untag)
    with open(path) as f:
        data = yaml.load(f, Loader=Loader)

    def resolve(value):
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            return data[value[1:-1]]
        return value

    return resolve(data)


# ----------------------------------------------------------------------------------------------------------------
# Flow: UpsampleConformerEncoder
# ----------------------------------------------------------------------------------------------------------------

def _chunk_allowed(length: int, chunk: int) -> torch.Tensor:
    """utils/mask.py subsequent_chunk_mask with all left chunks (num_left_chunks -1): query i sees keys j with
    j < (i // chunk + 1) * chunk; `chunk` 0 means full attention (add_optional_chunk_mask's `else` branch)."""
    i = torch.arange(length)
    if chunk <= 0:
        return torch.ones(length, length, dtype=torch.bool)
    return i[None, :] < ((i[:, None] // chunk) + 1) * chunk


def _rel_positions(length: int, d: int) -> torch.Tensor:
    """EspnetRelPositionalEncoding.position_encoding(size=length): (1, 2*length-1, d), row r for relative distance
    (length-1-r); even columns sin(dist * div), odd columns cos(dist * div)."""
    dist = torch.arange(length - 1, -length, -1, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * -(math.log(10000.0) / d))
    pe = torch.zeros(2 * length - 1, d)
    pe[:, 0::2] = torch.sin(dist * div)
    pe[:, 1::2] = torch.cos(dist * div)
    return pe[None]


def _linear_embed(x, sd, p, d):
    """LinearNoSubsampling + EspnetRelPositionalEncoding.forward: Linear, LayerNorm(1e-5), times sqrt(d)."""
    x = F.layer_norm(F.linear(x, sd[p + "out.0.weight"], sd[p + "out.0.bias"]), (d,),
                     sd[p + "out.1.weight"], sd[p + "out.1.bias"], 1e-5)
    return x * math.sqrt(d), _rel_positions(x.shape[1], d)


def _rel_self_attention(x, sd, p, heads, allowed, pos):
    """RelPositionMultiHeadedAttention.forward (Transformer-XL scores: (q+u)k^T + rel_shift((q+v)p^T), over sqrt(dk));
    masked keys get -inf before and 0 after the softmax (forward_attention)."""
    b, t, d = x.shape
    dk = d // heads
    q, k, v = (F.linear(x, sd[p + n + ".weight"], sd[p + n + ".bias"]).view(b, t, heads, dk)
               for n in ("linear_q", "linear_k", "linear_v"))
    k, v = k.transpose(1, 2), v.transpose(1, 2)
    pe = F.linear(pos, sd[p + "linear_pos.weight"]).view(1, -1, heads, dk).transpose(1, 2)
    ac = torch.matmul((q + sd[p + "pos_bias_u"]).transpose(1, 2), k.transpose(-2, -1))
    bd = torch.matmul((q + sd[p + "pos_bias_v"]).transpose(1, 2), pe.transpose(-2, -1))  # (b, h, t, 2t-1)
    column = (t - 1) - torch.arange(t)[:, None] + torch.arange(t)[None, :]  # rel_shift: distance i-j
    bd = torch.gather(bd, -1, column.expand(b, heads, t, t))
    scores = (ac + bd) / math.sqrt(dk)
    blocked = ~allowed[:, None]
    weights = torch.softmax(scores.masked_fill(blocked, -float("inf")), dim=-1).masked_fill(blocked, 0.0)
    out = torch.matmul(weights, v).transpose(1, 2).reshape(b, t, d)
    return F.linear(out, sd[p + "linear_out.weight"], sd[p + "linear_out.bias"])


def _conformer_layer(x, sd, p, heads, allowed, pos):
    """ConformerEncoderLayer.forward, normalize_before, no macaron FFN, no conv module: pre-LN (eps 1e-12) attention
    and SiLU feed-forward, each residual, ff_scale 1."""
    d = x.shape[-1]
    h = F.layer_norm(x, (d,), sd[p + "norm_mha.weight"], sd[p + "norm_mha.bias"], 1e-12)
    x = x + _rel_self_attention(h, sd, p + "self_attn.", heads, allowed, pos)
    h = F.layer_norm(x, (d,), sd[p + "norm_ff.weight"], sd[p + "norm_ff.bias"], 1e-12)
    h = F.linear(F.silu(F.linear(h, sd[p + "feed_forward.w_1.weight"], sd[p + "feed_forward.w_1.bias"])),
                 sd[p + "feed_forward.w_2.weight"], sd[p + "feed_forward.w_2.bias"])
    return x + h


def _upsample_conformer_encoder(sd, enc, x, chunk):
    """UpsampleConformerEncoder.forward for one unpadded utterance: embed, chunk mask (`chunk` tokens),
    PreLookaheadLayer, conformer blocks; nearest x2 + left-padded conv (Upsample1D), embed again, chunk mask
    (chunk * 2 frames), 4 up blocks, after_norm."""
    d, heads, p = enc["output_size"], enc["attention_heads"], "encoder."
    x, pos = _linear_embed(x, sd, p + "embed.", d)
    allowed = _chunk_allowed(x.shape[1], chunk)[None]
    h = F.pad(x.transpose(1, 2), (0, ENCODER_LOOKAHEAD))  # PreLookaheadLayer: look 3 tokens ahead
    h = F.leaky_relu(F.conv1d(h, sd[p + "pre_lookahead_layer.conv1.weight"], sd[p + "pre_lookahead_layer.conv1.bias"]))
    h = F.conv1d(F.pad(h, (2, 0)), sd[p + "pre_lookahead_layer.conv2.weight"], sd[p + "pre_lookahead_layer.conv2.bias"])
    x = h.transpose(1, 2) + x
    for i in range(enc["num_blocks"]):
        x = _conformer_layer(x, sd, f"{p}encoders.{i}.", heads, allowed, pos)
    h = F.interpolate(x.transpose(1, 2), scale_factor=float(UP_STRIDE), mode="nearest")
    h = F.conv1d(F.pad(h, (2 * UP_STRIDE, 0)), sd[p + "up_layer.conv.weight"], sd[p + "up_layer.conv.bias"])
    x, pos = _linear_embed(h.transpose(1, 2), sd, p + "up_embed.", d)
    allowed = _chunk_allowed(x.shape[1], chunk * UP_STRIDE)[None]
    for i in range(NUM_UP_BLOCKS):
        x = _conformer_layer(x, sd, f"{p}up_encoders.{i}.", heads, allowed, pos)
    if enc.get("normalize_before", True):
        x = F.layer_norm(x, (d,), sd[p + "after_norm.weight"], sd[p + "after_norm.bias"], 1e-5)
    return x


# ----------------------------------------------------------------------------------------------------------------
# Flow: causal ConditionalDecoder (the CFM velocity estimator) and the Euler solver
# ----------------------------------------------------------------------------------------------------------------

def _timestep_embedding(sd, p, t, dim):
    """matcha SinusoidalPosEmb(dim) at scale 1000, then TimestepEmbedding: Linear, SiLU, Linear."""
    half = dim // 2
    freq = torch.exp(torch.arange(half).float() * -(math.log(10000) / (half - 1)))
    emb = 1000 * t[:, None] * freq[None]
    emb = torch.cat([emb.sin(), emb.cos()], dim=-1)
    emb = F.silu(F.linear(emb, sd[p + "time_mlp.linear_1.weight"], sd[p + "time_mlp.linear_1.bias"]))
    return F.linear(emb, sd[p + "time_mlp.linear_2.weight"], sd[p + "time_mlp.linear_2.bias"])


def _causal_conv(x, sd, p):
    """CausalConv1d: left pad kernel-1, stride 1."""
    w = sd[p + "weight"]
    return F.conv1d(F.pad(x, (w.shape[-1] - 1, 0)), w, sd[p + "bias"])


def _causal_block(x, mask, sd, p):
    """CausalBlock1D: (x*mask) -> causal conv3 -> LayerNorm over channels (eps 1e-5) -> Mish, times mask."""
    h = _causal_conv(x * mask, sd, p + "block.0.")
    h = F.layer_norm(h.transpose(1, 2), (h.shape[1],), sd[p + "block.2.weight"], sd[p + "block.2.bias"], 1e-5)
    return F.mish(h.transpose(1, 2)) * mask


def _causal_resnet(x, mask, temb, sd, p):
    """CausalResnetBlock1D (matcha ResnetBlock1D.forward): block1, + Linear(Mish(t)), block2, + 1x1 conv of x*mask."""
    h = _causal_block(x, mask, sd, p + "block1.")
    h = h + F.linear(F.mish(temb), sd[p + "mlp.1.weight"], sd[p + "mlp.1.bias"])[:, :, None]
    h = _causal_block(h, mask, sd, p + "block2.")
    return h + F.conv1d(x * mask, sd[p + "res_conv.weight"], sd[p + "res_conv.bias"])


def _transformer_blocks(x, mask, sd, p, est, chunk):
    """matcha BasicTransformerBlock stack on (B, C, T): LayerNorm, diffusers Attention (AttnProcessor2_0: no q/k/v
    bias, SDPA with the additive finfo.min bias of `mask & chunk mask`, default scale 1/sqrt(head_dim)), residual;
    LayerNorm, FeedForward (exact GELU, 4x), residual."""
    x = x.transpose(1, 2)
    b, t, c = x.shape
    allowed = (mask.bool() & _chunk_allowed(t, chunk)[None])[:, None]  # (b, 1, t, t)
    bias = (1.0 - allowed.to(x.dtype)) * torch.finfo(x.dtype).min  # cosyvoice.utils.common.mask_to_bias
    heads = est["num_heads"]
    for j in range(est["n_blocks"]):
        q_ = f"{p}{j}."
        h = F.layer_norm(x, (c,), sd[q_ + "norm1.weight"], sd[q_ + "norm1.bias"], 1e-5)
        q, k, v = (F.linear(h, sd[q_ + "attn1." + n + ".weight"]).view(b, t, heads, -1).transpose(1, 2)
                   for n in ("to_q", "to_k", "to_v"))
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias).transpose(1, 2).reshape(b, t, -1)
        x = x + F.linear(out, sd[q_ + "attn1.to_out.0.weight"], sd[q_ + "attn1.to_out.0.bias"])
        h = F.layer_norm(x, (c,), sd[q_ + "norm3.weight"], sd[q_ + "norm3.bias"], 1e-5)
        h = F.gelu(F.linear(h, sd[q_ + "ff.net.0.proj.weight"], sd[q_ + "ff.net.0.proj.bias"]))
        x = x + F.linear(h, sd[q_ + "ff.net.2.weight"], sd[q_ + "ff.net.2.bias"])
    return x.transpose(1, 2)


def _estimator(sd, est, x, mask, mu, t, spks, cond, chunk):
    """flow/decoder.py ConditionalDecoder.forward with causal=True: U-Net over [x, mu, spks, cond] (320 channels);
    every attention uses `static_chunk_size` = `chunk` frames with all left chunks."""
    p = "decoder.estimator."
    temb = _timestep_embedding(sd, p, t, est["in_channels"])
    x = torch.cat([x, mu, spks[:, :, None].expand(-1, -1, x.shape[-1]), cond], dim=1)
    n_levels = len(est["channels"])
    masks, skips = [mask], []
    for i in range(n_levels):
        m = masks[-1]
        x = _causal_resnet(x, m, temb, sd, f"{p}down_blocks.{i}.0.")
        x = _transformer_blocks(x, m, sd, f"{p}down_blocks.{i}.1.", est, chunk)
        skips.append(x)
        if i == n_levels - 1:
            x = _causal_conv(x * m, sd, f"{p}down_blocks.{i}.2.")
        else:  # matcha Downsample1D
            x = F.conv1d(x * m, sd[f"{p}down_blocks.{i}.2.conv.weight"], sd[f"{p}down_blocks.{i}.2.conv.bias"],
                         stride=2, padding=1)
        masks.append(m[:, :, ::2])
    masks = masks[:-1]
    for i in range(est["num_mid_blocks"]):
        x = _causal_resnet(x, masks[-1], temb, sd, f"{p}mid_blocks.{i}.0.")
        x = _transformer_blocks(x, masks[-1], sd, f"{p}mid_blocks.{i}.1.", est, chunk)
    for i in range(n_levels):
        m, skip = masks.pop(), skips.pop()
        x = torch.cat([x[:, :, :skip.shape[-1]], skip], dim=1)
        x = _causal_resnet(x, m, temb, sd, f"{p}up_blocks.{i}.0.")
        x = _transformer_blocks(x, m, sd, f"{p}up_blocks.{i}.1.", est, chunk)
        if i == n_levels - 1:
            x = _causal_conv(x * m, sd, f"{p}up_blocks.{i}.2.")
        else:  # matcha Upsample1D(use_conv_transpose=True)
            x = F.conv_transpose1d(x * m, sd[f"{p}up_blocks.{i}.2.conv.weight"], sd[f"{p}up_blocks.{i}.2.conv.bias"],
                                   stride=2, padding=1)
    x = _causal_block(x, m, sd, p + "final_block.")
    x = F.conv1d(x * m, sd[p + "final_proj.weight"], sd[p + "final_proj.bias"])
    return x * mask


def _solve_euler(sd, est, cfg_rate, x, mu, mask, spks, cond, n_timesteps, chunk):
    """CausalConditionalCFM.forward + ConditionalCFM.solve_euler: cosine time schedule, fixed-step Euler with
    classifier-free guidance (a batch of 2: conditioned, and mu/spks/cond zeroed), v = (1+r) v_c - r v_u."""
    t_span = torch.linspace(0, 1, n_timesteps + 1, dtype=mu.dtype)
    t_span = 1 - torch.cos(t_span * 0.5 * torch.pi)
    t, dt = t_span[0:1], t_span[1] - t_span[0]
    zeros = torch.zeros_like
    for step in range(1, len(t_span)):
        v = _estimator(sd, est, torch.cat([x, x]), torch.cat([mask, mask]), torch.cat([mu, zeros(mu)]),
                       torch.cat([t, t]), torch.cat([spks, zeros(spks)]), torch.cat([cond, zeros(cond)]), chunk)
        v = (1.0 + cfg_rate) * v[:1] - cfg_rate * v[1:]
        x = x + dt * v
        t = t + dt
        if step < len(t_span) - 1:
            dt = t_span[step + 1] - t
    return x.float()


@torch.no_grad()
def reference_flow_mel(flow_sd: dict, flow_config: dict, tokens: torch.Tensor, embedding: torch.Tensor,
                       noise: torch.Tensor, finalize: bool, n_timesteps: int = 10, encoder_chunk: int = 50,
                       estimator_chunk: int = 100) -> torch.Tensor:
    """CausalMaskedDiffWithXvec.inference with empty prompt tokens/feats under LLaMA-Omni2's static chunk overrides.

    tokens (1, T) Long, embedding (1, spk_embed_dim), noise (1, 80, >= frames) standing for the CFM's `rand_noise`.
    The speaker vector is L2-normalised and projected; tokens embedded; the encoder output loses its last
    pre_lookahead_len * token_mel_ratio frames unless `finalize`; x0 = noise[:, :, :frames]; cond is zero.
    Returns the mel (1, 80, frames), frames = 2T (finalize) or 2T - 6. Raises ValueError unless output_size is 80.
    """
    if flow_config["output_size"] != MEL_BINS:
        raise ValueError(f"solve_euler hard-codes {MEL_BINS} mel bins")
    ratio, look = flow_config["token_mel_ratio"], flow_config["pre_lookahead_len"]
    spks = F.linear(F.normalize(embedding, dim=1), flow_sd["spk_embed_affine_layer.weight"],
                    flow_sd["spk_embed_affine_layer.bias"])
    x = F.embedding(torch.clamp(tokens, min=0), flow_sd["input_embedding.weight"])
    h = _upsample_conformer_encoder(flow_sd, flow_config["encoder"], x, encoder_chunk)
    if not finalize:
        h = h[:, :-look * ratio]
    mu = F.linear(h, flow_sd["encoder_proj.weight"], flow_sd["encoder_proj.bias"]).transpose(1, 2)
    frames = mu.shape[2]
    mask = torch.ones(1, 1, frames, dtype=mu.dtype)
    cond = torch.zeros(1, flow_config["output_size"], frames)
    decoder = flow_config["decoder"]
    return _solve_euler(flow_sd, decoder["estimator"], decoder["cfm_params"]["inference_cfg_rate"],
                        noise[:, :, :frames].to(mu.dtype) * 1.0, mu, mask, spks, cond, n_timesteps, estimator_chunk)


# ----------------------------------------------------------------------------------------------------------------
# HiFT vocoder
# ----------------------------------------------------------------------------------------------------------------

def fold_weight_norm(hift_sd: dict) -> dict:
    """Strip `generator.` and fold old-style weight norm: weight = g * v / ||v|| (norm over all dims but 0).

    Folded with torch's own weight-norm kernel (what the released forward pre-hook runs), so that the f0, whose
    float32 running phase sum amplifies 1-ulp weight differences into ~1e-4 source differences, matches the release
    bit for bit on the same machine; `g * v / v.norm(...)` differs from it by an ulp here and there."""
    sd = {k[len("generator."):] if k.startswith("generator.") else k: v for k, v in hift_sd.items()}
    out = {}
    for k, v in sd.items():
        if k.endswith(".weight_g"):
            continue
        if k.endswith(".weight_v"):
            out[k[:-2]] = torch._weight_norm(v, sd[k[:-1] + "g"], 0)
        else:
            out[k] = v
    return out


def _hann_periodic(n: int) -> torch.Tensor:
    """scipy.signal.get_window('hann', n, fftbins=True) in float64, cast to float32 as HiFTGenerator does."""
    return torch.from_numpy((0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32))


def _snake(x, alpha):
    """transformer/activation.py Snake (linear alpha): x + 1/(a + 1e-9) * sin(a x)^2."""
    a = alpha[None, :, None]
    return x + (1.0 / (a + 0.000000001)) * torch.sin(x * a) ** 2


def _resblock(x, sd, p, dilations):
    """hifigan/generator.py ResBlock: per dilation d, x += conv_1(snake(conv_d(snake(x)))), 'same' padding."""
    for j, d in enumerate(dilations):
        w1, w2 = sd[f"{p}convs1.{j}.weight"], sd[f"{p}convs2.{j}.weight"]
        k = w1.shape[-1]
        h = F.conv1d(_snake(x, sd[f"{p}activations1.{j}.alpha"]), w1, sd[f"{p}convs1.{j}.bias"],
                     dilation=d, padding=(k * d - d) // 2)
        h = F.conv1d(_snake(h, sd[f"{p}activations2.{j}.alpha"]), w2, sd[f"{p}convs2.{j}.bias"], padding=(k - 1) // 2)
        x = h + x
    return x


def _f0(sd, mel):
    """ConvRNNF0Predictor: 5 x (conv3 + ELU), Linear over channels, |.|; (B, frames) in Hz."""
    x = mel
    for i in range(5):
        x = F.elu(F.conv1d(x, sd[f"f0_predictor.condnet.{2 * i}.weight"], sd[f"f0_predictor.condnet.{2 * i}.bias"],
                           padding=1))
    return torch.abs(F.linear(x.transpose(1, 2), sd["f0_predictor.classifier.weight"],
                              sd["f0_predictor.classifier.bias"]).squeeze(-1))


def _source(sd, cfg, f0_up):
    """SourceModuleHnNSF.forward + SineGen.forward on f0 (B, 1, S): harmonic sines with random initial phases
    (fundamental's phase 0), voiced where f0 > threshold, Gaussian noise; merged by Linear + tanh. Draws from the
    global RNG in the released order: rand (B, H+1, 1), randn (B, H+1, S), randn (B, S, 1) (unused noise branch).
    Returns (B, 1, S)."""
    b, s = f0_up.shape[0], f0_up.shape[-1]
    n_sines, sine_amp = cfg["nb_harmonics"] + 1, cfg["nsf_alpha"]
    cycles = torch.zeros(b, n_sines, s)
    for i in range(n_sines):
        cycles[:, i:i + 1, :] = f0_up * (i + 1) / cfg["sampling_rate"]
    theta = 2 * np.pi * (torch.cumsum(cycles, dim=-1) % 1)
    low, high = torch.tensor(-np.pi, dtype=torch.float32), torch.tensor(np.pi, dtype=torch.float32)
    phase = low + torch.rand((b, n_sines, 1)) * (high - low)
    phase[:, 0, :] = 0
    sines = sine_amp * torch.sin(theta + phase)
    uv = (f0_up > cfg["nsf_voiced_threshold"]).float()
    noise_amp = uv * cfg["nsf_sigma"] + (1 - uv) * sine_amp / 3
    sines = sines * uv + noise_amp * torch.randn(sines.shape)
    merged = torch.tanh(F.linear(sines.transpose(1, 2), sd["m_source.l_linear.weight"], sd["m_source.l_linear.bias"]))
    torch.randn(b, s, 1)  # SourceModuleHnNSF's noise branch: drawn, never used
    return merged.transpose(1, 2)


def _decode(sd, cfg, mel, source):
    """HiFTGenerator.decode: STFT of the source (n_fft, hop, hann, centred) fused at every upsampling stage through
    strided convs + ResBlocks; multi-kernel ResBlocks averaged; leaky_relu(0.01); conv_post -> exp magnitude (clipped
    at 100) and sin phase -> iSTFT -> clamp at audio_limit."""
    n_fft, hop = cfg["istft_params"]["n_fft"], cfg["istft_params"]["hop_len"]
    window = _hann_periodic(n_fft)
    spec = torch.stft(source.squeeze(1), n_fft, hop, n_fft, window=window, center=True, pad_mode="reflect",
                      normalized=False, onesided=True, return_complex=True)
    s_stft = torch.cat([spec.real, spec.imag], dim=1)
    x = F.conv1d(mel, sd["conv_pre.weight"], sd["conv_pre.bias"], padding=3)
    n_kernels, n_up = len(cfg["resblock_kernel_sizes"]), len(cfg["upsample_rates"])
    for i, (u, k, down) in enumerate(zip(cfg["upsample_rates"], cfg["upsample_kernel_sizes"], _hift_rates(cfg))):
        x = F.leaky_relu(x, cfg["lrelu_slope"])
        x = F.conv_transpose1d(x, sd[f"ups.{i}.weight"], sd[f"ups.{i}.bias"], stride=u, padding=(k - u) // 2)
        if i == n_up - 1:
            x = F.pad(x, (1, 0), mode="reflect")
        si = F.conv1d(s_stft, sd[f"source_downs.{i}.weight"], sd[f"source_downs.{i}.bias"], stride=down,
                      padding=0 if down == 1 else down // 2)
        x = x + _resblock(si, sd, f"source_resblocks.{i}.", cfg["source_resblock_dilation_sizes"][i])
        total = None
        for j, dil in enumerate(cfg["resblock_dilation_sizes"]):
            y = _resblock(x, sd, f"resblocks.{i * n_kernels + j}.", dil)
            total = y if total is None else total + y
        x = total / n_kernels
    x = F.conv1d(F.leaky_relu(x), sd["conv_post.weight"], sd["conv_post.bias"], padding=3)
    magnitude = torch.clip(torch.exp(x[:, :n_fft // 2 + 1]), max=1e2)
    phase = torch.sin(x[:, n_fft // 2 + 1:])
    spec = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
    wave = torch.istft(spec, n_fft, hop, n_fft, window=window, center=True, normalized=False, onesided=True)
    return torch.clamp(wave, -cfg["audio_limit"], cfg["audio_limit"])


@torch.no_grad()
def reference_hift(hift_sd: dict, hift_config: dict, mel: torch.Tensor,
                   cache_source: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """HiFTGenerator.inference: mel (1, 80, N) -> f0 -> nearest x480 -> NSF source (global RNG) -> the first
    cache_source.shape[2] source samples replaced by `cache_source` (1, 1, L) -> decode.

    hift_sd in the released form (`generator.` prefix, weight_g/weight_v). Returns (speech (1, 480N), source
    (1, 1, 480N)).
    """
    sd = fold_weight_norm(hift_sd)
    up = int(np.prod(hift_config["upsample_rates"])) * hift_config["istft_params"]["hop_len"]
    f0_up = F.interpolate(_f0(sd, mel)[:, None], scale_factor=float(up), mode="nearest")
    source = _source(sd, hift_config, f0_up)
    if cache_source is not None and cache_source.shape[2] != 0:
        source[:, :, :cache_source.shape[2]] = cache_source
    return _decode(sd, hift_config, mel, source), source


# ----------------------------------------------------------------------------------------------------------------
# run_cosy2_decoder.SpeechDecoder.entry / token2wav
# ----------------------------------------------------------------------------------------------------------------

def _fade_in(speech, previous, window):
    """run_cosy2_decoder.fade_in_out: the first len(window)/2 samples become speech * rising half + the previous
    chunk's tail * falling half; float32 * float64 numpy window computes in float64, stored back as float32."""
    n = window.shape[0] // 2
    w = torch.from_numpy(window)
    speech = speech.clone()
    speech[..., :n] = (speech[..., :n].double() * w[:n] + previous[..., -n:].double() * w[n:]).to(speech.dtype)
    return speech


@torch.no_grad()
def reference_token2wav_stream(flow_sd: dict, hift_sd: dict, flow_config: dict, hift_config: dict,
                               tokens: torch.Tensor, embedding: torch.Tensor, noise: torch.Tensor, stream: bool,
                               hop: int = 50, seed: int | None = None) -> list[np.ndarray]:
    """SpeechDecoder.entry(generated_tokens, stream) with empty prompt, as LLaMA-Omni2 runs it.

    stream=True: while len(tokens) - offset >= hop + pre_lookahead_len, token2wav(tokens[:offset + hop + lookahead],
    finalize=False) then offset += hop; finally token2wav(all tokens, finalize=True). stream=False: one finalize call
    at offset 0. Each token2wav keeps mel frames from offset * token_mel_ratio, prepends the 8 cached mel frames,
    vocodes with the cached 8*480 source samples, fades in against the cached speech tail (hamming window of
    2*8*480), and (if not finalize) caches the last 8 mel / 8*480 source / 8*480 speech samples and holds back the
    speech tail. Chunk sizes follow LLaMA-Omni2: encoder 2 * input_frame_rate tokens, estimator that times
    token_mel_ratio frames. If `seed` is given, torch.manual_seed(seed) once first.
    Returns the emitted chunks, each a 1-D float32 array.
    """
    if seed is not None:
        torch.manual_seed(seed)
    ratio, look = flow_config["token_mel_ratio"], flow_config["pre_lookahead_len"]
    encoder_chunk = 2 * flow_config["input_frame_rate"]
    estimator_chunk = encoder_chunk * ratio
    source_cache_len = MEL_CACHE_LEN * SAMPLES_PER_MEL
    window = np.hamming(2 * source_cache_len)
    cache = None
    chunks = []

    def token2wav(prefix, offset, finalize):
        nonlocal cache
        mel = reference_flow_mel(flow_sd, flow_config, prefix[None], embedding, noise, finalize,
                                 encoder_chunk=encoder_chunk, estimator_chunk=estimator_chunk)[:, :, offset * ratio:]
        if cache is not None:
            mel = torch.cat([cache["mel"], mel], dim=2)
        speech, source = reference_hift(hift_sd, hift_config, mel, None if cache is None else cache["source"])
        if cache is not None:
            speech = _fade_in(speech, cache["speech"], window)
        if not finalize:
            cache = {"mel": mel[:, :, -MEL_CACHE_LEN:], "source": source[:, :, -source_cache_len:],
                     "speech": speech[:, -source_cache_len:]}
            speech = speech[:, :-source_cache_len]
        chunks.append(speech[0].numpy().astype(np.float32))

    offset = 0
    if stream:
        while len(tokens) - offset >= hop + look:
            token2wav(tokens[:offset + hop + look], offset, finalize=False)
            offset += hop
    token2wav(tokens, offset, finalize=True)
    return chunks
