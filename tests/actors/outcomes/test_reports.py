"""Outcome reports: conversion and uplift per rule, offer and model version."""

from __future__ import annotations

from actors.outcomes.reports import format_table, report

COUNTERS = {
    "sent|treated|browse_offer|browse|electronics_10|3": 90,
    "clicked|treated|browse_offer|browse|electronics_10|3": 30,
    "converted|treated|browse_offer|browse|electronics_10|3": 18,
    "sent|holdout|browse_offer|browse|electronics_10|3": 10,
    "converted|holdout|browse_offer|browse|electronics_10|3": 1,
    "sent|treated|browse_offer|browse|fashion_15|4": 10,
    "converted|treated|browse_offer|browse|fashion_15|4": 2,
    "not a counter": 5,
}


def test_rates_and_uplift_per_rule() -> None:
    (row,) = report(COUNTERS, "rule")
    assert row["key"] == "browse_offer"
    assert row["treated"]["sent"] == 100
    assert row["conversion_rate"] == 0.2
    assert row["holdout_conversion_rate"] == 0.1
    assert abs(row["uplift"] - 0.1) < 1e-12
    assert row["click_rate"] == 0.3


def test_grouping_by_offer_and_by_model() -> None:
    by_offer = {r["key"]: r for r in report(COUNTERS, "offer")}
    assert by_offer["fashion_15"]["holdout_conversion_rate"] is None
    assert by_offer["fashion_15"]["uplift"] is None
    assert [r["key"] for r in report(COUNTERS, "model")] == ["3", "4"]


def test_the_table_is_readable() -> None:
    table = format_table(report(COUNTERS, "rule"), "rule")
    assert "browse_offer" in table
    assert "+10.0pt" in table


def test_every_rate_and_uplift_says_how_sure_it_is() -> None:
    (row,) = report(COUNTERS, "rule")
    low, high = row["uplift_ci"]
    assert low < 0.0 < high  # 20/100 against 1/10: too few held out to tell
    assert row["significant"] is False
    assert "not significant" in format_table([row], "rule")
    low, high = row["conversion_rate_ci"]
    assert low < 0.2 < high
    sure = report(
        {
            "sent|treated|r|c|o|1": 2000,
            "converted|treated|r|c|o|1": 400,
            "sent|holdout|r|c|o|1": 2000,
            "converted|holdout|r|c|o|1": 200,
        },
        "rule",
    )[0]
    assert sure["significant"] is True
    assert sure["uplift_ci"][0] > 0.0
    assert "not significant" not in format_table([sure], "rule")
    alone = {r["key"]: r for r in report(COUNTERS, "offer")}["fashion_15"]
    assert (alone["uplift_ci"], alone["significant"]) == (None, None)
