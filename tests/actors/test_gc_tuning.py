"""Long-running processes collect garbage rarely; the setting can restore the defaults."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from actors.gc_tuning import DEFAULT_THRESHOLD, ENV, threshold_from, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_collections_are_rare_by_default() -> None:
    assert threshold_from(None) == DEFAULT_THRESHOLD
    assert DEFAULT_THRESHOLD[0] >= 50 * 700


def test_the_setting_takes_three_positive_integers() -> None:
    assert threshold_from("700, 10, 10") == (700, 10, 10)
    for bad in ("700,10", "a,b,c", "0,10,10", "-1,10,10"):
        with pytest.raises(ValueError, match=ENV):
            threshold_from(bad)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_start_up_objects_and_applies_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "1000,5,5")
    assert tune_gc() == (1000, 5, 5)
    assert gc.get_threshold() == (1000, 5, 5)
    assert gc.get_freeze_count() > 0
