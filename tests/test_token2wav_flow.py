"""Tests of CosyVoice2's flow-matching port (modeling_llama_omni.modeling_token2wav_flow).

Properties only, on the shared tiny configuration (TINY_FLOW: the released layout, LLaMA-Omni2's static chunk sizes):
mel lengths, the released parameter names, strict loading, determinism given the noise, the static-chunk property
that streaming relies on, dtypes and input errors; and the incremental streaming path (start_stream / stream_chunk)
against the full recompute of every chunk. Equivalence with the released code is checked elsewhere.
"""

from __future__ import annotations

import ast
import copy

import pytest
import torch

from modeling_llama_omni import modeling_token2wav_flow
from modeling_llama_omni.modeling_token2wav_flow import (
    FlowStreamState,
    Token2WavFlow,
    resolve_flow_config,
    static_chunk_mask,
)

from tests.token2wav_reference import TINY_FLOW  # noqa: E402 - the tiny configuration of every token2wav test

# Names and shapes of the released module tree (CausalMaskedDiffWithXvec built from TINY_FLOW with LLaMA-Omni2's
# vendored CosyVoice, Matcha-TTS 0.0.7.2 and diffusers 0.29.0), i.e. keys of a flow.pt for this configuration.
RELEASED_KEYS = {
    "input_embedding.weight": (40, 16),
    "spk_embed_affine_layer.weight": (80, 8),
    "encoder.embed.out.0.weight": (16, 16),
    "encoder.embed.out.1.bias": (16,),
    "encoder.after_norm.weight": (16,),
    "encoder.pre_lookahead_layer.conv1.weight": (16, 16, 4),
    "encoder.pre_lookahead_layer.conv2.weight": (16, 16, 3),
    "encoder.encoders.0.self_attn.linear_pos.weight": (16, 16),
    "encoder.encoders.1.self_attn.pos_bias_u": (2, 8),
    "encoder.encoders.1.feed_forward.w_1.weight": (32, 16),
    "encoder.up_layer.conv.weight": (16, 16, 5),
    "encoder.up_embed.out.0.weight": (16, 16),
    "encoder.up_encoders.3.norm_mha.weight": (16,),
    "encoder_proj.weight": (80, 16),
    "decoder.estimator.time_mlp.linear_1.weight": (128, 320),
    "decoder.estimator.down_blocks.0.0.mlp.1.weight": (32, 128),
    "decoder.estimator.down_blocks.0.0.block1.block.0.weight": (32, 320, 3),
    "decoder.estimator.down_blocks.0.0.block1.block.2.weight": (32,),
    "decoder.estimator.down_blocks.0.1.0.attn1.to_q.weight": (16, 32),
    "decoder.estimator.down_blocks.0.1.0.attn1.to_out.0.bias": (32,),
    "decoder.estimator.down_blocks.0.2.weight": (32, 32, 3),
    "decoder.estimator.mid_blocks.0.1.0.ff.net.0.proj.weight": (128, 32),
    "decoder.estimator.mid_blocks.0.1.0.ff.net.2.weight": (32, 128),
    "decoder.estimator.up_blocks.0.0.res_conv.weight": (32, 64, 1),
    "decoder.estimator.up_blocks.0.1.0.norm3.bias": (32,),
    "decoder.estimator.final_block.block.0.weight": (32, 32, 3),
    "decoder.estimator.final_proj.weight": (80, 32, 1),
}
RELEASED_NUM_KEYS = 224  # the released tree's state_dict for TINY_FLOW
ABSENT_KEYS = [  # released layers without these (no bias), and computed tensors that are not checkpoint keys
    "encoder.encoders.0.self_attn.linear_pos.bias",
    "decoder.estimator.down_blocks.0.1.0.attn1.to_q.bias",
    "encoder.embed.pos_enc.pe",
    "decoder.rand_noise",
]


def perturbed_flow(config: dict = TINY_FLOW, seed: int = 0) -> Token2WavFlow:
    """A flow with random weights large enough for non-trivial signals (LayerNorm scales near 1)."""
    flow = Token2WavFlow(copy.deepcopy(config)).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in flow.named_parameters():
            values = torch.randn(param.shape, generator=gen) * 0.2
            is_norm_scale = param.dim() == 1 and ("norm" in name or name.endswith("out.1.weight") or "block.2" in name)
            param.copy_(values + 1.0 if is_norm_scale and name.endswith("weight") else values)
    return flow


@pytest.fixture(scope="module")
def flow() -> Token2WavFlow:
    return perturbed_flow()


@pytest.fixture(scope="module")
def inputs() -> dict:
    gen = torch.Generator().manual_seed(1)
    return {
        "tokens": torch.randint(0, TINY_FLOW["vocab_size"], (1, 120), generator=gen),
        "embedding": torch.randn(1, TINY_FLOW["spk_embed_dim"], generator=gen),
        "noise": torch.randn(1, 80, 300, generator=gen),
    }


def test_imports_only_torch_numpy_and_stdlib():
    tree = ast.parse(open(modeling_token2wav_flow.__file__).read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: the file is copied into model folders"
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "copy", "math", "typing", "torch", "numpy"}, roots


@pytest.mark.parametrize("num_tokens", [1, 4, 7, 30])
def test_mel_lengths(flow, inputs, num_tokens):
    tokens = inputs["tokens"][:, :num_tokens]
    final = flow.inference(tokens, inputs["embedding"], inputs["noise"], finalize=True, n_timesteps=2)
    partial = flow.inference(tokens, inputs["embedding"], inputs["noise"], finalize=False, n_timesteps=2)
    assert final.shape == (1, 80, 2 * num_tokens) and final.dtype == torch.float32
    assert partial.shape == (1, 80, max(2 * (num_tokens - 3), 0)) and partial.dtype == torch.float32
    assert flow.num_mel_frames(num_tokens, True) == final.shape[2]
    assert flow.num_mel_frames(num_tokens, False) == partial.shape[2]
    assert torch.isfinite(final).all()
    assert final.is_inference()  # run under torch.inference_mode()


def test_released_attributes(flow):
    assert flow.frame_rates == {"input_frame_rate": 25, "token_mel_ratio": 2, "pre_lookahead_len": 3}
    assert flow.encoder.static_chunk_size == 50
    assert flow.decoder.estimator.static_chunk_size == 100


def test_state_dict_has_the_released_keys(flow):
    shapes = {name: tuple(tensor.shape) for name, tensor in flow.state_dict().items()}
    assert len(shapes) == RELEASED_NUM_KEYS
    for name, shape in RELEASED_KEYS.items():
        assert shapes.get(name) == shape, name
    for name in ABSENT_KEYS:
        assert name not in shapes
    # 4 Conformer layers after the upsampling (hard-coded in the release), 19 tensors each
    assert sum(name.startswith("encoder.up_encoders.") for name in shapes) == 4 * 19


def test_strict_load_round_trip(flow, inputs):
    copy_flow = Token2WavFlow(copy.deepcopy(TINY_FLOW)).eval()
    copy_flow.load_state_dict(flow.state_dict(), strict=True)
    args = (inputs["tokens"][:, :20], inputs["embedding"], inputs["noise"])
    assert torch.equal(copy_flow.inference(*args, n_timesteps=3), flow.inference(*args, n_timesteps=3))
    incomplete = dict(flow.state_dict())
    incomplete.pop("encoder.encoders.0.self_attn.pos_bias_v")
    with pytest.raises(RuntimeError, match="pos_bias_v"):
        copy_flow.load_state_dict(incomplete, strict=True)


def test_reset_computed_buffers_restores_the_positional_tables(inputs):
    flow = perturbed_flow(seed=3)
    args = (inputs["tokens"][:, :15], inputs["embedding"], inputs["noise"])
    expected = flow.inference(*args, n_timesteps=2)
    tables = [module for module in flow.modules() if callable(getattr(module, "reset_computed_buffers", None))]
    assert len(tables) == 2  # encoder.embed.pos_enc and encoder.up_embed.pos_enc
    for module in tables:  # as a loader that materialises non-persistent buffers empty
        module.pe.fill_(float("nan"))
        module.reset_computed_buffers()
    assert torch.equal(flow.inference(*args, n_timesteps=2), expected)


def test_output_is_determined_by_the_noise(flow, inputs):
    tokens, embedding, noise = inputs["tokens"][:, :20], inputs["embedding"], inputs["noise"]
    first = flow.inference(tokens, embedding, noise, n_timesteps=3)
    assert torch.equal(first, flow.inference(tokens, embedding, noise.clone(), n_timesteps=3))
    # only the first `frames` noise frames are used
    longer = torch.cat([noise, torch.randn(1, 80, 50)], dim=2)
    assert torch.equal(first, flow.inference(tokens, embedding, longer, n_timesteps=3))
    other = flow.inference(tokens, embedding, torch.randn_like(noise), n_timesteps=3)
    assert (first - other).abs().max() > 0.1
    # temperature 0 starts the ODE from zeros: the noise no longer matters
    cold = flow.inference(tokens, embedding, noise, n_timesteps=3, temperature=0.0)
    other_cold = flow.inference(tokens, embedding, torch.randn_like(noise), n_timesteps=3, temperature=0.0)
    assert torch.equal(cold, other_cold)
    # the tokens and the speaker both condition the mel
    assert (first - flow.inference(inputs["tokens"][:, 20:40], embedding, noise, n_timesteps=3)).abs().max() > 1e-3
    assert (first - flow.inference(tokens, -embedding, noise, n_timesteps=3)).abs().max() > 1e-3


def test_sub_steps_compose_to_inference(flow, inputs):
    tokens, embedding, noise = inputs["tokens"][:, :20], inputs["embedding"], inputs["noise"]
    with torch.no_grad():
        mu = flow.encode(tokens, finalize=False)
        assert mu.shape == (1, 80, 34)
        mel = flow.solve(mu, embedding, noise, n_timesteps=3)
    assert torch.equal(mel, flow.inference(tokens, embedding, noise, finalize=False, n_timesteps=3))
    # dropping the lookahead frames happens after the encoder: the kept frames of mu are the final call's
    with torch.no_grad():
        assert torch.equal(mu, flow.encode(tokens, finalize=True)[:, :, :34])


def test_static_chunk_mask():
    mask = static_chunk_mask(5, 2)
    expected = torch.tensor(
        [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool
    )
    assert torch.equal(mask, expected)
    assert static_chunk_mask(4, 0).all()


def test_static_chunks_make_a_streamed_prefix_final(flow, inputs):
    """With LLaMA-Omni2's chunks (50 tokens, 100 frames) the first 100 mel frames depend only on the first
    50 + pre_lookahead_len tokens: a streamed call on 53 tokens already gives them, whatever follows."""
    tokens, embedding, noise = inputs["tokens"], inputs["embedding"], inputs["noise"]
    streamed = flow.inference(tokens[:, :53], embedding, noise, finalize=False, n_timesteps=4)
    assert streamed.shape == (1, 80, 100)
    for num_tokens, finalize in [(103, False), (60, False), (120, True)]:
        later = flow.inference(tokens[:, :num_tokens], embedding, noise, finalize=finalize, n_timesteps=4)
        torch.testing.assert_close(later[:, :, :100], streamed, rtol=0, atol=1e-4)
    # the lookahead is real: without token 52 the frames of token 49 change
    short = flow.inference(tokens[:, :52], embedding, noise, finalize=False, n_timesteps=4)
    assert (short - streamed[:, :, :98]).abs().max() > 1e-3


def test_full_attention_has_no_chunk_property(inputs):
    config = copy.deepcopy(TINY_FLOW)
    config["encoder"]["static_chunk_size"] = 0
    config["decoder"]["estimator"]["static_chunk_size"] = 0
    full = perturbed_flow(config)
    tokens, embedding, noise = inputs["tokens"], inputs["embedding"], inputs["noise"]
    streamed = full.inference(tokens[:, :53], embedding, noise, finalize=False, n_timesteps=2)
    later = full.inference(tokens[:, :103], embedding, noise, finalize=False, n_timesteps=2)
    assert (later[:, :, :100] - streamed).abs().max() > 1e-3


def test_computes_in_the_model_dtype(inputs):
    flow32 = perturbed_flow(seed=2)
    flow64 = perturbed_flow(seed=2).to(torch.float64)
    args = (inputs["tokens"][:, :12], inputs["embedding"], inputs["noise"])
    with torch.no_grad():
        assert flow64.encode(args[0]).dtype == torch.float64
    mel64 = flow64.inference(*args, n_timesteps=3)
    assert mel64.dtype == torch.float32  # returned as float32, like the release
    torch.testing.assert_close(mel64, flow32.inference(*args, n_timesteps=3), rtol=0, atol=1e-4)


def test_input_errors(flow, inputs):
    tokens, embedding, noise = inputs["tokens"][:, :10], inputs["embedding"], inputs["noise"]
    bad_ids = [tokens.clone().fill_(-1), tokens.clone().fill_(TINY_FLOW["vocab_size"])]
    for bad in bad_ids:
        with pytest.raises(ValueError, match=r"\[0, 40\)"):
            flow.inference(bad, embedding, noise)
    with pytest.raises(ValueError, match=r"shape \(1, num_tokens\)"):
        flow.inference(tokens[0], embedding, noise)
    with pytest.raises(ValueError, match="integer"):
        flow.inference(tokens.float(), embedding, noise)
    with pytest.raises(ValueError, match="empty"):
        flow.inference(tokens[:, :0], embedding, noise)
    with pytest.raises(ValueError, match=r"\(1, 8\)"):
        flow.inference(tokens, embedding[:, :7], noise)
    with pytest.raises(ValueError, match="fewer than the 20 mel frames"):
        flow.inference(tokens, embedding, noise[:, :, :19])
    with pytest.raises(ValueError, match="noise must have shape"):
        flow.inference(tokens, embedding, noise[:, :40])
    with pytest.raises(ValueError, match="n_timesteps"):
        flow.inference(tokens, embedding, noise, n_timesteps=0)


def test_config_defaults_and_errors():
    resolved = resolve_flow_config(TINY_FLOW)
    assert resolved["encoder"]["key_bias"] is True and resolved["encoder"]["num_up_blocks"] == 4
    assert resolved["encoder"]["activation_type"] == "swish" and resolved["encoder"]["upsample_stride"] == 2
    assert resolved["decoder"]["estimator"]["static_chunk_size"] == 100
    partial = copy.deepcopy(TINY_FLOW)
    del partial["encoder"]["static_chunk_size"], partial["decoder"]["estimator"]["static_chunk_size"]
    resolved = resolve_flow_config(partial)  # LLaMA-Omni2's run-time chunk sizes
    assert resolved["encoder"]["static_chunk_size"] == 50
    assert resolved["decoder"]["estimator"]["static_chunk_size"] == 100
    for section, key, value in [
        ("encoder", "use_cnn_module", True),
        ("encoder", "input_layer", "conv2d"),
        ("estimator", "causal", False),
        ("estimator", "act_fn", "snake"),
        ("encoder", "output_size", 24),
    ]:
        config = copy.deepcopy(TINY_FLOW)
        target = config["decoder"]["estimator"] if section == "estimator" else config[section]
        target[key] = value
        with pytest.raises(ValueError, match=key if key != "output_size" else "must be equal"):
            Token2WavFlow(config)


def test_released_size_builds_on_meta():
    config = copy.deepcopy(TINY_FLOW)
    config.update(input_size=512, spk_embed_dim=192, vocab_size=6561)
    config["encoder"].update(output_size=512, input_size=512, attention_heads=8, linear_units=2048, num_blocks=6)
    config["decoder"]["estimator"].update(
        channels=[256], attention_head_dim=64, n_blocks=4, num_mid_blocks=12, num_heads=8
    )
    with torch.device("meta"):
        released_size = Token2WavFlow(config)
    assert sum(param.numel() for param in released_size.parameters()) == 112_549_360  # as the released tree
    assert len(released_size.state_dict()) == 1121


# ----------------------------------------------------------------------------------------------------------------------
# Incremental streaming: start_stream / stream_chunk against the release's full recompute of every chunk
# ----------------------------------------------------------------------------------------------------------------------

# LLaMA-Omni2's schedule: hops of 50 tokens with 3 lookahead tokens, then everything (3 chunks + a partial one)
RELEASED_SCHEDULE = [(53, False), (103, False), (153, False), (180, True)]


@pytest.fixture(scope="module")
def long_inputs() -> dict:
    gen = torch.Generator().manual_seed(4)
    return {
        "tokens": torch.randint(0, TINY_FLOW["vocab_size"], (1, 180), generator=gen),
        "embedding": torch.randn(1, TINY_FLOW["spk_embed_dim"], generator=gen),
        "noise": torch.randn(1, 80, 400, generator=gen),
    }


def stream(
    flow: Token2WavFlow, inputs: dict, schedule: list, n_timesteps: int = 3, **kwargs
) -> tuple[list, FlowStreamState]:
    """Runs `schedule` ([(num_tokens, finalize)]) through one stream. Returns, per call, the streamed chunk, the same
    frames from the full recompute (`inference` on all tokens so far) and the state's (cached, computed) frames after
    the call; and the state."""
    state = flow.start_stream(inputs["embedding"], inputs["noise"], n_timesteps=n_timesteps, **kwargs)
    calls = []
    for num_tokens, finalize in schedule:
        tokens = inputs["tokens"][:, :num_tokens]
        full = flow.inference(tokens, inputs["embedding"], inputs["noise"], finalize=finalize, n_timesteps=n_timesteps)
        emitted = state.emitted_frames
        chunk = flow.stream_chunk(tokens, state, finalize=finalize)
        calls.append((chunk, full[:, :, emitted:], (state.cached_frames, state.computed_frames)))
    return calls, state


def test_stream_chunks_equal_the_full_recompute(flow, long_inputs):
    assert flow.stream_period == 100  # lcm(50 tokens * 2, 100 frames)
    calls, state = stream(flow, long_inputs, RELEASED_SCHEDULE)
    assert [chunk.shape for chunk, _, _ in calls] == [(1, 80, 100)] * 3 + [(1, 80, 60)]
    for chunk, full, _ in calls:
        assert chunk.dtype == torch.float32 and chunk.is_inference()
        torch.testing.assert_close(chunk, full, rtol=0, atol=1e-5)
        assert full.abs().max() > 1.0
    # every call starts where the cache ends: each frame is computed once
    assert [progress for _, _, progress in calls] == [(100, 100), (200, 200), (300, 300), (300, 360)]
    assert state.finished and state.emitted_frames == 360 and state.num_cache_bytes() == 0


@pytest.mark.parametrize(
    "schedule, progress",
    [
        # misaligned calls: each recomputes the frames after the last boundary that had its lookahead tokens
        (
            [(2, False), (20, False), (53, False), (80, False), (131, False), (131, False), (180, True)],
            [(0, 0), (0, 34), (100, 134), (100, 188), (200, 344), (200, 344), (200, 504)],
        ),
        # calls that cross several chunks, and a one-shot stream
        ([(153, False), (180, True)], [(300, 300), (300, 360)]),
        ([(56, False), (180, True)], [(100, 106), (100, 366)]),
        ([(180, True)], [(0, 360)]),
    ],
)
def test_stream_any_schedule_is_exact(flow, long_inputs, schedule, progress):
    calls, state = stream(flow, long_inputs, schedule)
    for chunk, full, _ in calls:
        assert chunk.shape == full.shape
        torch.testing.assert_close(chunk, full, rtol=0, atol=1e-5)
    assert [p for _, _, p in calls] == progress
    assert state.emitted_frames == 360


def test_stream_with_smaller_encoder_chunks_and_hops(long_inputs):
    config = copy.deepcopy(TINY_FLOW)
    config["encoder"].update(static_chunk_size=25, macaron_style=True)
    small = perturbed_flow(config, seed=5)
    assert small.stream_period == 100  # lcm(25 tokens * 2, 100 frames)
    schedule = [(28, False), (53, False), (78, False), (103, False), (153, False), (180, True)]
    calls, _ = stream(small, long_inputs, schedule)
    for chunk, full, _ in calls:
        torch.testing.assert_close(chunk, full, rtol=0, atol=1e-5)
    assert [p for _, _, p in calls] == [(0, 50), (100, 150), (100, 200), (200, 300), (300, 400), (300, 460)]
    small.encoder.static_chunk_size = 75
    assert small.stream_period == 300  # lcm(150, 100)


@pytest.mark.parametrize("change", ["encoder_full_attention", "estimator_full_attention", "two_level_estimator"])
def test_stream_without_final_frames_recomputes_exactly(long_inputs, change):
    config = copy.deepcopy(TINY_FLOW)
    if change == "encoder_full_attention":
        config["encoder"]["static_chunk_size"] = 0
    elif change == "estimator_full_attention":
        config["decoder"]["estimator"]["static_chunk_size"] = 0
    else:  # stride-2 resampling between the levels sees the next frame
        config["decoder"]["estimator"]["channels"] = [32, 32]
    other = perturbed_flow(config, seed=6)
    assert other.stream_period is None
    calls, state = stream(other, long_inputs, RELEASED_SCHEDULE, n_timesteps=2)
    for chunk, full, _ in calls:
        torch.testing.assert_close(chunk, full, rtol=0, atol=1e-5)
    assert [p for _, _, p in calls] == [(0, 100), (0, 300), (0, 600), (0, 960)]  # like the release


def test_streams_have_their_own_state(flow, long_inputs):
    other = {**long_inputs, "embedding": -long_inputs["embedding"], "noise": torch.roll(long_inputs["noise"], 7, 2)}
    schedule = RELEASED_SCHEDULE
    first = flow.start_stream(long_inputs["embedding"], long_inputs["noise"], n_timesteps=2)
    second = flow.start_stream(other["embedding"], other["noise"], n_timesteps=2)
    interleaved = {"first": [], "second": []}
    for num_tokens, finalize in schedule:  # two streams at once, with different speakers, noise and tokens
        interleaved["first"].append(flow.stream_chunk(long_inputs["tokens"][:, :num_tokens], first, finalize))
        interleaved["second"].append(flow.stream_chunk(other["tokens"].flip(1)[:, :num_tokens], second, finalize))
    again, _ = stream(flow, long_inputs, schedule, n_timesteps=2)  # a fresh state after a finished stream
    for chunk, (alone, _, _) in zip(interleaved["first"], again):
        assert torch.equal(chunk, alone)
    second_full = flow.inference(other["tokens"].flip(1), other["embedding"], other["noise"], n_timesteps=2)
    torch.testing.assert_close(torch.cat(interleaved["second"], dim=2), second_full, rtol=0, atol=1e-5)


def test_stream_errors(flow, long_inputs):
    tokens, embedding, noise = long_inputs["tokens"], long_inputs["embedding"], long_inputs["noise"]
    state = flow.start_stream(embedding, noise, n_timesteps=2)
    expected = flow.inference(tokens[:, :103], embedding, noise, finalize=False, n_timesteps=2)
    first = flow.stream_chunk(tokens[:, :53], state)
    changed = tokens[:, :103].clone()
    changed[0, 10] = (changed[0, 10] + 1) % TINY_FLOW["vocab_size"]
    for bad in (changed, tokens[:, :52]):
        with pytest.raises(ValueError, match="all tokens so far"):
            flow.stream_chunk(bad, state)
    with pytest.raises(ValueError, match="made by this flow"):
        flow.stream_chunk(tokens[:, :103], perturbed_flow().start_stream(embedding, noise))
    short = flow.start_stream(embedding, noise[:, :, :150], n_timesteps=2)
    flow.stream_chunk(tokens[:, :53], short)
    with pytest.raises(ValueError, match="fewer than the 200 mel frames"):
        flow.stream_chunk(tokens[:, :103], short)
    # the failed calls left the state as it was
    second = flow.stream_chunk(tokens[:, :103], state)
    torch.testing.assert_close(torch.cat([first, second], dim=2), expected, rtol=0, atol=1e-5)
    flow.decoder.estimator.static_chunk_size = 50
    try:
        with pytest.raises(ValueError, match="chunk sizes changed"):
            flow.stream_chunk(tokens[:, :153], state)
    finally:
        flow.decoder.estimator.static_chunk_size = 100
    flow.stream_chunk(tokens[:, :120], state, finalize=True)
    with pytest.raises(ValueError, match="finalized"):
        flow.stream_chunk(tokens[:, :153], state)
    for bad_dtype in (torch.int8, "float16"):
        with pytest.raises(ValueError, match="cache_dtype"):
            flow.start_stream(embedding, noise, cache_dtype=bad_dtype)
    with pytest.raises(ValueError, match=r"\(1, 8\)"):
        flow.start_stream(embedding[:, :7], noise)
    with pytest.raises(ValueError, match="n_timesteps"):
        flow.start_stream(embedding, noise, n_timesteps=0)


def test_stream_cache_dtype_halves_the_memory(flow, long_inputs):
    schedule = RELEASED_SCHEDULE[:2]
    exact, exact_state = stream(flow, long_inputs, schedule)
    half, half_state = stream(flow, long_inputs, schedule, cache_dtype=torch.float16)
    assert exact_state.num_cache_bytes() > 0
    assert half_state.num_cache_bytes() * 2 == exact_state.num_cache_bytes()
    for (chunk, full, _), (half_chunk, _, _) in zip(exact, half):
        torch.testing.assert_close(half_chunk, full, rtol=0, atol=1e-2)
    assert torch.equal(half[0][0], exact[0][0])  # the first chunk reads no cache
