from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"

    def ready(self):
        # The apps below do not import the recommender: they tell it about their changes through
        # signals, and leave places in their pages that it fills (extension points).
        from accounts.extensions import profile_sections
        from accounts.signals import user_deleting
        from catalog.extensions import title_annotations, title_page_sections
        from ratings.extensions import stats_sections, year_review_sections
        from ratings.signals import rating_changed
        from recommender import providers, receivers

        rating_changed.connect(receivers.rating_changed_receive, dispatch_uid="recommender.rating_changed")
        user_deleting.connect(receivers.user_deleting_receive, dispatch_uid="recommender.user_deleting")
        title_annotations.register(providers.title_predictions_annotate)
        title_page_sections.register(providers.similar_titles_section)
        profile_sections.register(providers.controls_section)
        profile_sections.register(providers.quality_section)
        profile_sections.register(providers.taste_section)
        stats_sections.register(providers.quality_section)
        year_review_sections.register(providers.year_review_quality_section)
