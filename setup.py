"""Packaging for llama-omni-hf: LLaMA-Omni / LLaMA-Omni2 as first-class transformers models."""

from setuptools import find_packages, setup

# The pinned stack of ../shared/STACK.md: these versions resolve together (pip check clean).
INSTALL_REQUIRES = [
    "torch==2.14.1",
    "torchaudio==2.11.0",
    "torchcodec==0.17.0",
    "transformers==5.23.0",
    "tokenizers==0.23.3",
    "datasets==5.2.0",
    "huggingface_hub==2.4.0",
    "accelerate==1.15.0",
    "trl==1.16.0",
    "evaluate==0.4.6",
    "gradio==6.31.0",
    "soundfile==0.14.0",
    "jiwer==4.0.0",
    "numpy==2.4.6",
    "safetensors",
    "openai==3.51.0",  # the client of OpenAI-compatible servers (LLM writers, the evaluation judge)
    # offline TTS (Piper VITS voice), unit k-means, GGUF loading (SmolLM2), LoRA
    "onnxruntime==1.31.1",
    "onnx==1.23.2",  # reading / editing the Piper voice graph
    "inflect==7.6.0",  # number and ordinal words of the data builder's speech normalizer
    "scikit-learn==1.9.1",
    "gguf==0.19.0",
    "peft==0.21.2",
    # evaluation (`llama-omni evaluate`): the Omega trade-off plot, DNSMOS features (speechmos is an asset package)
    "matplotlib==3.11.2",
    "librosa==0.11.0",
    "silero-vad==6.2.3",  # hands-free turn-taking: the VAD's ONNX weights ship in the wheel (inference.turn_taking)
    # the lexicon read-out adaptor of llama-omni-tiny: flashlight's CTC beam search over a lexicon trie (C++ wheel)
    "flashlight-text==0.0.7",
]

EXTRAS_REQUIRE = {
    "dev": ["pytest==9.2.0", "playwright==1.65.2", "httpx"],  # playwright drives Debian's chromium (no browser download)
}

setup(
    name="llama-omni-hf",
    version="0.1.0.dev0",
    description="LLaMA-Omni speech chatbot as a Hugging Face transformers model: "
    "speech in, streaming text and speech out.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["modeling_llama_omni*", "processing*", "offline_assets*", "inference*", "trainers*",
                                    "evaluation*", "hub_cards*", "llama_omni_cli*", "space*"]),
    include_package_data=True,
    package_data={
        "processing.instructs2s": ["data/*.jsonl", "recipes/*.yaml"],
        "trainers": ["recipes/*.yaml", "recipes/embedded/*.yaml", "accelerate/*.yaml"],
        # the embedded default model's trained weights (llama-omni-tiny)
        "offline_assets": ["llama_omni_tiny/*.json", "llama_omni_tiny/*.safetensors"],
        # the evaluation metrics: `evaluate` modules loaded by path
        "evaluation": ["metrics/*/*.py"],
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["llama-omni=llama_omni_cli:main"]},
)
