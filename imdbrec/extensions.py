"""Extension points: places in a lower app's pages that the apps above it fill.

Apps depend one way (catalog ← accounts ← ratings ← recommender), yet a page of a lower app shows
things the apps above own: the catalog's title page shows the member's stars and watchlist
(ratings) and "More like this" (recommender); the profile (accounts) shows the rating summary and
the taste community. The lower app declares an ``ExtensionPoint`` in its ``extensions.py``; each
app above registers a provider in its ``AppConfig.ready()``; the lower app's view calls
``collect()`` and passes what it gets to its template. Providers read through their own app's
selectors, so the templates (and their tags) run no queries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string


class ExtensionPoint:
    """A named list of providers, called in the order they were registered (app order)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._providers: list[Callable[..., Any]] = []

    def __repr__(self) -> str:
        return f"<ExtensionPoint {self.name}: {len(self._providers)} provider(s)>"

    def register(self, provider: Callable[..., Any]) -> None:
        """Add ``provider`` (from an ``AppConfig.ready()``); registering it again changes nothing."""
        if provider not in self._providers:
            self._providers.append(provider)

    def collect(self, **kwargs: Any) -> list[Any]:
        """Every provider's result for ``kwargs``, leaving out the ``None``s."""
        results = (provider(**kwargs) for provider in self._providers)
        return [result for result in results if result is not None]


@dataclass(frozen=True)
class Section:
    """A part of a page: ``template`` rendered with ``context`` and the request's context processors.

    A template shows it with ``{{ section }}``: it renders when the page renders it. Its
    ``stylesheets`` (static paths) go in the page's head: see ``stylesheets_of``.
    """

    template: str
    request: HttpRequest
    context: dict[str, Any] = field(default_factory=dict)
    stylesheets: tuple[str, ...] = ()

    def __html__(self) -> str:
        return render_to_string(self.template, self.context, request=self.request)

    def __str__(self) -> str:
        return self.__html__()


def stylesheets_of(sections: list[Section]) -> list[str]:
    """The sections' stylesheets, each once, in order: ``base.html`` links them in the head."""
    return list(dict.fromkeys(path for section in sections for path in section.stylesheets))
