from django.apps import AppConfig


class RatingsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ratings"

    def ready(self):
        # Ratings fills the places the apps below leave in their pages (they do not import ratings).
        from accounts.extensions import delete_sections, profile_sections
        from catalog.extensions import title_annotations, title_page_context
        from ratings import providers

        title_annotations.register(providers.title_annotate)
        title_page_context.register(providers.title_page_context)
        profile_sections.register(providers.profile_summary_section)
        delete_sections.register(providers.export_offer_section)
