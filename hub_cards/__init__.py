"""Model, dataset and Space cards for LLaMA-Omni repositories on the Hugging Face Hub."""
