import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first: the hardening runs, then the other slow ones, then the rest. With
    ``pytest -n 2 --dist worksteal`` (scripts/test.sh) the longest run starts at once and the
    other worker takes everything else."""

    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("slow") is None:
            return 2
        return 0 if item.path.name == "test_hardening.py" else 1

    items.sort(key=rank)
