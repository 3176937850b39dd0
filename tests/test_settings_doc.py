"""The README's settings table is the settings classes' (issue 17): every GATEWAY_ variable
with its type, default, example and meaning, written by gateway.settings_doc."""

from __future__ import annotations

from gateway.partners.settings import AuthSettings
from gateway.settings import REPO_ROOT, Settings
from gateway.settings_doc import current_block, readme_block, rows


def test_the_readme_table_is_the_one_the_settings_classes_write():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = current_block(readme)
    assert block is not None, "README.md lost its settings table markers"
    assert block == readme_block(), (
        "README.md's settings table differs from the settings classes: run "
        "`python -m gateway.settings_doc --write`"
    )


def test_every_setting_has_a_meaning_and_a_type():
    names = {f"`GATEWAY_{name.upper()}`" for name in Settings.model_fields}
    names |= {f"`GATEWAY_{name.upper()}`" for name in AuthSettings.model_fields}
    table = rows()
    assert {row[0] for row in table} == names
    for variable, kind, default, _example, meaning in table:
        assert kind and default and meaning, variable
    by_name = {row[0]: row for row in table}
    assert by_name["`GATEWAY_FROZEN_TIME`"][1] == "datetime"
    assert "ISO 8601" in by_name["`GATEWAY_FROZEN_TIME`"][4]
    for variable in ("`GATEWAY_PORTAL_URL`", "`GATEWAY_MAIL_FROM`", "`GATEWAY_LOG_LEVEL`"):
        assert variable in by_name
