"""The staff models page shows every run's holdout figures: accuracy, beyond accuracy and whether
its confidence buckets keep their meaning."""

from django.urls import reverse

from recommender.models import ModelRun


def _buckets(low, medium, high, counts=(10, 10, 10)):
    return [
        {"confidence": name, "hit_rate": rate, "recommendations": count, "pairs": 5, "mae": 0.7}
        for name, rate, count in zip(("low", "medium", "high"), (low, medium, high), counts, strict=True)
    ]


def test_the_models_page_shows_every_runs_beyond_accuracy_and_confidence(db, staff_user, client):
    measured = ModelRun.objects.create(
        status=ModelRun.Status.SUCCEEDED,
        metrics={
            "precision_at_10": 0.3117,
            "ndcg_at_10": 0.3709,
            "rmse": 0.8428,
            "catalog_coverage": 0.0934,
            "novelty_bits": 2.71,
            "intra_list_diversity": 0.6234,
            "already_rated_share": 0.0,
            "confidence_buckets": _buckets(0.12, 0.27, 0.41, counts=(404, 4888, 1798)),
            "confidence_rises": True,
        },
    )
    flat = ModelRun.objects.create(
        status=ModelRun.Status.SUCCEEDED,
        metrics={"precision_at_10": 0.2, "confidence_buckets": _buckets(0.3, 0.2, 0.4), "confidence_rises": False},
    )
    client.force_login(staff_user)

    page = client.get(reverse("system:models")).content.decode()

    assert "Every run on its holdout" in page
    cells = ("0.312", "0.371", "0.843", "9.3%", "2.71 bits", "0.623", "0%", "12% / 27% / 41%", "404 / 4,888 / 1,798")
    for text in cells:
        assert f'<td class="num">{text}</td>' in page, text
    assert f"#{measured.pk}" in page and f"#{flat.pk}" in page
    assert "not measured by this run" in page  # the older run has no beyond-accuracy figures
    assert "<strong>no</strong>" in page  # its confidence did not rise: said plainly
    assert page.count("already_rated") == 0 and "Already rated" in page
