import os
import sys

# Tests import the repository's packages and the helpers in tests/ whether or not the package is installed.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import pytest  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models' ops are far too small for intra-op threads: on a busy 2-core machine OpenMP's spinning threads
    make each step several times slower. A module uses it with `pytestmark = pytest.mark.usefixtures(
    "one_torch_thread")`; the thread count is restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
