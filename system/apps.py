from django.apps import AppConfig


class SystemConfig(AppConfig):
    """The staff pages. This app sits on top: it reads and starts work through the other apps'
    selectors and services; none of them imports it."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "system"
    verbose_name = "System (staff pages)"
