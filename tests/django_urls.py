"""The ROOT_URLCONF of the Django tests: each test sets ``urlpatterns`` (settings are configured once
per process, so every Django test shares this module)."""

urlpatterns: list = []


def configure() -> None:
    """Configure Django once for the tests (no database, CSRF checks on)."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"], SECRET_KEY="tests-only",
                           MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"], USE_TZ=True)
        django.setup()


def use(patterns: list) -> None:
    """Serve ``patterns`` from now on."""
    from django.urls import clear_url_caches

    urlpatterns[:] = patterns
    clear_url_caches()
