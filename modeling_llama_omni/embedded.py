# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""Deprecated alias of `offline_assets.embedded` (the embedded default llama-omni-tiny moved out of the model package,
which holds model code only). It will be removed in the next release: import from `offline_assets.embedded`."""

import warnings

from offline_assets.embedded import *  # noqa: F401,F403  (the deprecated alias re-exports the public names)
from offline_assets.embedded import __all__  # noqa: F401

warnings.warn(
    "modeling_llama_omni.embedded is deprecated and will be removed in the next release; "
    "import from offline_assets.embedded instead",
    FutureWarning,
    stacklevel=2,
)
