from django.contrib.auth.backends import ModelBackend


class SiteUserBackend(ModelBackend):
    """The usual username/password backend, closed to synthetic and imported community users."""

    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and user.kind == user.Kind.SITE
