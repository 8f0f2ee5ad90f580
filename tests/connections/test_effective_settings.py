"""A company's settings in effect: its own values over the service's defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import Settings
from app.connections.settings import (
    SETTING_NAMES,
    CompanySettings,
    EffectiveSettings,
    SettingSource,
)


def test_every_setting_has_a_default_of_the_same_name() -> None:
    env = Settings()
    for name in SETTING_NAMES:
        assert hasattr(env, name), name
    effective = EffectiveSettings.of(None, env)
    assert set(effective.sources) == set(SETTING_NAMES)
    assert set(effective.sources.values()) == {SettingSource.DEFAULT}


def test_own_values_win_and_say_so() -> None:
    env = Settings(tax_code_id="5", drift_policy_invoice="restore")
    own = CompanySettings(tax_code_id="9", payment_methods={"Card": "4"}).own()
    effective = EffectiveSettings.of(own, env)
    assert effective.tax_code_id == "9"
    assert effective.sources["tax_code_id"] is SettingSource.COMPANY
    assert effective.drift_policy("invoice") == "restore"
    assert effective.sources["drift_policy_invoice"] is SettingSource.DEFAULT
    assert effective.payment_method_id(" card ") == "4"
    assert effective.payment_method_id("ach") is None


def test_bad_values_are_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="display_name_template"):
        CompanySettings(display_name_template="{display_name}")
    with pytest.raises(ValidationError, match="class_id"):
        CompanySettings.model_validate({"class_id": "abc"})
    with pytest.raises(ValidationError, match="unknown"):
        CompanySettings.model_validate({"unknown": "1"})
