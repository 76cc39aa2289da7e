"""The pages' one error path, as ``errors.api_exception_handler`` is the API's.

A page view raises; ``page`` turns what it raised into the page a person should see:
a bad parameter is the same page with the message and a 400, a missing record the
site's 404 page (or the same page, for a lookup), AWS trouble the same page with a
banner and a 503. Never a traceback, never AWS's own words on a public page.

Pages only read: GET and HEAD render, OPTIONS says so (``Allow``), anything else is a
405 before the view runs, whatever the request carries.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

from pipeline.core.errors import AWS_ERRORS, BadRequest, NotFound, Unshowable

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "The data store cannot be reached right now. The page will work again once it is back."
)
NOT_FOUND_TEMPLATE = "404.html"
PAGE_METHODS = ("GET", "HEAD")
ALLOW = ", ".join((*PAGE_METHODS, "OPTIONS"))

View = Callable[..., HttpResponse]
ContextFor = Callable[[HttpRequest], dict[str, Any]]


class LookupMiss(NotFound):
    """A record looked up from a page's search box does not exist: stay on that page."""


_PAGE_ERRORS: tuple[type[Exception], ...] = (BadRequest, NotFound, Unshowable, *AWS_ERRORS)


def page(template: str, *, context: ContextFor | None = None) -> Callable[[View], View]:
    """Render ``template`` (with ``context(request)``) for errors the view raises."""

    def decorate(view: View) -> View:
        # CSRF-exempt because nothing but GET and HEAD ever reaches the view: a POST is
        # a 405 (not the CSRF check's 403), and its body is never read.
        @csrf_exempt
        @functools.wraps(view)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return HttpResponse(headers={"Allow": ALLOW})
            if request.method not in PAGE_METHODS:
                refused = HttpResponseNotAllowed(PAGE_METHODS)
                refused["Allow"] = ALLOW
                return refused
            # Parsed up front, so a query Django refuses (over 1,000 parameters) is the
            # same 400 page (handler400) on every page, whether it reads the query or not.
            request.GET  # noqa: B018
            try:
                return view(request, *args, **kwargs)
            except _PAGE_ERRORS as exc:
                base = context(request) if context else {}
                return _error_page(request, exc, template, base)

        return inner

    return decorate


def _error_page(
    request: HttpRequest, exc: Exception, template: str, base: dict[str, Any]
) -> HttpResponse:
    if isinstance(exc, LookupMiss):
        return render(request, template, base | {"error": str(exc)}, status=HTTPStatus.NOT_FOUND)
    if isinstance(exc, NotFound):
        context = {"message": str(exc)}
        return render(request, NOT_FOUND_TEMPLATE, context, status=HTTPStatus.NOT_FOUND)
    if isinstance(exc, BadRequest):
        return render(request, template, base | {"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
    if isinstance(exc, Unshowable):
        context = {"message": str(exc)}
        return render(request, NOT_FOUND_TEMPLATE, context, status=HTTPStatus.UNPROCESSABLE_ENTITY)
    log.error("AWS failure on %s: %s", request.path, exc)  # as requested: prefix included
    context = base | {"banner": UNAVAILABLE}
    return render(request, template, context, status=HTTPStatus.SERVICE_UNAVAILABLE)
