"""Requests refused before any view sees them, with a clear message instead of a 500.

- A body larger than ``MAX_REQUEST_BODY_BYTES`` (from its Content-Length, before a byte is read):
  413. The largest legitimate body is the IMDb ratings CSV upload (``MAX_RATINGS_UPLOAD_BYTES``);
  the default limit leaves room for the form to say "the limit is 5 MB" itself for files just
  over it, and refuses anything far bigger without spooling it to disk.
- A body sent without a Content-Length (``Transfer-Encoding: chunked``): 411, since its size
  could not be checked before reading it. Browsers always send the length of a form or upload.
- A NUL character in the path, the query string or a form field: 400. Postgres cannot store NUL
  in text, so such a value reaching a query raises ``ValueError`` deep in the driver (a 500);
  no legitimate input of this site contains one.
"""

from django.conf import settings
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

from imdbrec.parsing import ascii_int

NUL = "\x00"


def max_request_body_bytes() -> int:
    return getattr(settings, "MAX_REQUEST_BODY_BYTES", 2 * settings.MAX_RATINGS_UPLOAD_BYTES)


def _refuse(request, status: int, message: str):
    if request.headers.get("x-requested-with") == "XMLHttpRequest":
        from django.http import HttpResponse

        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    return render(request, "request_refused.html", {"status": status, "message": message}, status=status)


def _has_nul(query_dict) -> bool:
    return any(NUL in key or any(NUL in value for value in values) for key, values in query_dict.lists())


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = ascii_int(request.META.get("CONTENT_LENGTH") or "0")
        if length is None:
            return _refuse(request, 400, "The request's Content-Length header is not a number; nothing was done.")
        limit = max_request_body_bytes()
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _refuse(
                request,
                411,
                "The request has no Content-Length (a chunked body), so its size cannot be "
                "checked; send it with a Content-Length. Nothing was saved.",
            )
        if length > limit:
            return _refuse(
                request,
                413,
                f"The request is {filesizeformat(length)}; the limit is {filesizeformat(limit)}. Nothing was saved.",
            )
        if NUL in request.path or _has_nul(request.GET):
            return _refuse(request, 400, "The address contains a NUL character, which no page here accepts.")
        # Only urlencoded forms: reading a multipart body here would fix its upload handlers
        # before the view could choose them. Multipart text fields go through form validation,
        # which refuses NUL characters itself.
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            if _has_nul(request.POST):
                return _refuse(
                    request, 400, "The form contains a NUL character, which no field here accepts. Nothing was saved."
                )
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """Adds ``settings.PERMISSIONS_POLICY`` as the ``Permissions-Policy`` header (Django has no setting for it)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy:
            response.headers.setdefault("Permissions-Policy", policy)
        return response
