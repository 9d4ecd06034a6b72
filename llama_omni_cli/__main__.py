# Copyright 2026 The llama-omni-hf authors. Licensed under the Apache License, Version 2.0.
"""`python -m llama_omni_cli COMMAND ...` is the `llama-omni` command."""

import sys

from . import main

sys.exit(main())
