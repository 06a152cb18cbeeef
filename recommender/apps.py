from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "recommender"

    def ready(self):
        # The apps below tell the recommender about their changes through signals connected here
        # (they do not import the recommender).
        from accounts.signals import user_deleting
        from ratings.signals import rating_changed
        from recommender import receivers

        rating_changed.connect(receivers.rating_changed_receive, dispatch_uid="recommender.rating_changed")
        user_deleting.connect(receivers.user_deleting_receive, dispatch_uid="recommender.user_deleting")
