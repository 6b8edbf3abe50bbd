"""The cold-import bench compares each handler with `import boto3, pydantic` from the same run."""

from __future__ import annotations

import pytest

from devtools.bench.scenarios.cold_import import REFERENCE_MODULES, ratios, top_level_us

OUTPUT = (
    "import time: self [us] | cumulative | imported package\n"
    "import time:       120 |        300 |     botocore.compat\n"
    "import time:       500 |     250000 | boto3\n"
    "import time:        40 |       4000 |   pydantic.version\n"
    "import time:       300 |      90000 | pydantic\n"
)


def test_the_reference_is_the_sum_of_the_top_level_imports() -> None:
    assert REFERENCE_MODULES == ("boto3", "pydantic")
    assert top_level_us(OUTPUT, REFERENCE_MODULES) == 340000


def test_a_module_nested_under_another_is_not_counted_twice() -> None:
    nested = "import time:       300 |      90000 |   pydantic\nimport time:   500 |   250000 | boto3\n"
    assert top_level_us(nested, REFERENCE_MODULES) == 250000


def test_no_reference_module_is_an_error() -> None:
    with pytest.raises(ValueError, match="top level"):
        top_level_us("import time:       1 |        1 | json\n", REFERENCE_MODULES)


def test_ratios_are_over_the_reference_median() -> None:
    assert ratios({"settings": 510.0, "reconcile": 680.0}, 340.0) == {"settings": 1.5, "reconcile": 2.0}
