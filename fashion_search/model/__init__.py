"""The model: loading a Hugging Face CLIP or building the `small` preset (clip), texts and images ->
vectors (embed), fast image preprocessing (preprocess), the contrastive loss (loss)."""
