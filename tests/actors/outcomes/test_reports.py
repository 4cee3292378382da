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


PROGRAMME = {
    **COUNTERS,
    "sent|treated|next_best_offer||books_15|4": 400,
    "converted|treated|next_best_offer||books_15|4": 60,
    "sent|global_control|browse_offer|browse|electronics_10|3": 200,
    "converted|global_control|browse_offer|browse|electronics_10|3": 10,
    "sent|global_control|next_best_offer||books_15|4": 100,
    "converted|global_control|next_best_offer||books_15|4": 5,
}


def test_the_global_control_group_is_an_arm_of_its_own() -> None:
    rows = {r["key"]: r for r in report(PROGRAMME, "rule")}
    browse = rows["browse_offer"]
    # The campaign's holdout is untouched by the programme's control group ...
    assert browse["holdout"]["sent"] == 10
    assert browse["holdout_conversion_rate"] == 0.1
    # ... which has its own rate and uplift, with its interval.
    assert browse["global_control"]["sent"] == 200
    assert browse["global_control_conversion_rate"] == 0.05
    assert abs(browse["uplift_vs_global_control"] - 0.15) < 1e-12
    assert browse["significant_vs_global_control"] is True
    assert rows["next_best_offer"]["holdout"]["sent"] == 0
    assert rows["next_best_offer"]["significant"] is None  # no holdout to compare with


def test_the_programme_s_uplift_is_every_decision_against_the_global_control() -> None:
    (row,) = report(PROGRAMME, "programme")
    assert row["key"] == "all marketing"
    assert row["treated"]["sent"] == 500
    assert row["global_control"]["sent"] == 300
    assert abs(row["uplift_vs_global_control"] - (80 / 500 - 15 / 300)) < 1e-12
    low, high = row["uplift_ci_vs_global_control"]
    assert low < row["uplift_vs_global_control"] < high
    table = format_table([row], "programme")
    assert "against the global control group" in table
