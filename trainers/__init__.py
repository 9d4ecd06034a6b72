"""Training code for LLaMA-Omni (stage-1 / stage-2 / vocoder trainers, collators, recipes) and the `llama-omni`
command line."""
