"""The staff models page in Chromium: every run's holdout figures (beyond accuracy, confidence) are
shown, fit a laptop and a phone (the wide table scrolls in its own box)."""

import pytest

from recommender.models import ModelRun
from tests.browser.conftest import has_horizontal_overflow, login, screenshot

pytestmark = pytest.mark.browser


def test_models_page_shows_every_runs_holdout_figures(new_page, user_factory, db):
    from tests.browser.conftest import LAPTOP, PHONE

    staff = user_factory(username="modeller", is_staff=True, is_superuser=True)
    buckets = [
        {"confidence": "low", "hit_rate": None, "recommendations": 0, "pairs": 5007, "mae": 0.73},
        {"confidence": "medium", "hit_rate": 0.0703, "recommendations": 1608, "pairs": 10544, "mae": 0.64},
        {"confidence": "high", "hit_rate": 0.394, "recommendations": 4482, "pairs": 4506, "mae": 0.58},
    ]
    ModelRun.objects.create(status=ModelRun.Status.SUCCEEDED, metrics={"precision_at_10": 0.301, "rmse": 0.851})
    ModelRun.objects.create(
        status=ModelRun.Status.SUCCEEDED,
        metrics={
            "precision_at_10": 0.3085,
            "ndcg_at_10": 0.3649,
            "rmse": 0.8487,
            "catalog_coverage": 0.0642,
            "novelty_bits": 2.495,
            "intra_list_diversity": 0.6198,
            "already_rated_share": 0.0,
            "confidence_buckets": buckets,
            "confidence_rises": True,
        },
    )
    for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page = new_page(viewport)
        login(page, staff)
        page.goto("/system/models/")
        table = page.locator("section[aria-labelledby=h-holdout] table")
        assert table.is_visible()
        text = table.inner_text()
        assert "2.50 bits" in text and "0.620" in text and "– / 7% / 39%" in text and "yes" in text
        assert "not measured by this run" in text
        assert not has_horizontal_overflow(page)
        assert not page.js_errors
        screenshot(page, f"system-models-holdout-{name}")
