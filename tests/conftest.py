import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the hardening runs, then the other slow ones, then the rest, so that with
    ``pytest -n 2 --dist worksteal`` (scripts/test.sh) the longest run starts at once and the
    other worker takes everything else. A worker holds the test after its current one (xdist
    sends it ahead and never steals it), so a quick test goes second: the next hardening run
    would otherwise wait the whole of the first one out."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is None:
            return 2
        return 0 if item.path.name == "test_hardening.py" else 1

    items.sort(key=rank)
    quick = next((i for i, item in enumerate(items) if rank(item) == 2), None)
    if quick is not None and quick > 1:
        items.insert(1, items.pop(quick))
