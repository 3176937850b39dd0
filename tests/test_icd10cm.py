"""The ICD-10-CM items shipped precomputed (gateway/domain/icd10cm.py, issue 19 item 2): the
same answers as the maintained package, and `gateway submit` never builds the package's tree."""

from __future__ import annotations

import pytest

from gateway.domain import icd10cm
from tests.startup_runs import NOT_NEEDED, first_submit


def test_the_shipped_items_are_the_installed_packages() -> None:
    import simple_icd_10_cm as icd

    version, items = icd10cm.read_items()
    assert version == icd10cm.package_version(), "run tools/icd10cm_items.py"
    assert items == frozenset(icd.get_all_codes(True))


def test_the_shipped_descriptions_are_the_installed_packages() -> None:
    import simple_icd_10_cm as icd

    version, descriptions = icd10cm.read_descriptions()
    assert version == icd10cm.package_version(), "run tools/icd10cm_items.py"
    items = set(icd.get_all_codes(True))
    assert set(descriptions) == items
    assert all(descriptions[item] == icd.get_description(item) for item in items)


def test_a_description_is_the_packages_with_and_without_dots_and_none_for_a_non_item() -> None:
    import simple_icd_10_cm as icd

    for code in ("C50.911", "C50911", "C50", "C00-C96", "Z170", "A52.16", "C84.1"):
        assert icd10cm.description(code) == icd.get_description(code), code
    for code in ("XX", "c50911", "", "C50.9111"):
        with pytest.raises(ValueError):
            icd.get_description(code)
        with pytest.raises(ValueError):
            icd10cm.description(code)


def test_answers_as_the_package_with_and_without_dots() -> None:
    import simple_icd_10_cm as icd

    for code in (
        "C50.911",
        "C50911",
        "C50",
        "Z17.0",
        "Z170",
        "C00-C96",
        "2",
        "C50.9",
        "c50911",
        "C5",
        "Z99.89",
        "Z9989",
        "Q99.9X",
        "",
        "C50.9111",
        "M54.50",
    ):
        assert icd10cm.is_valid_item(code) == icd.is_valid_item(code), code
    assert icd10cm.description("C50911") == icd.get_description("C50911")


def test_a_one_file_submit_loads_neither_the_code_tree_nor_alembic(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The session's first one-file `gateway submit` process (tests/startup_runs.py), on a
    migrated database as a deployed gateway's is (migrating loads alembic): what it imported."""
    loaded = first_submit(tmp_path_factory).loaded
    for heavy in ("simple_icd_10_cm", "alembic", "fastapi", "uvicorn", "reportlab"):
        assert heavy in NOT_NEEDED  # a name the process reports on
        assert heavy not in loaded, heavy
