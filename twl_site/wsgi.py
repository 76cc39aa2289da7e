"""WSGI entry point (used by Zappa and by the local stack)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "twl_site.settings")
application = get_wsgi_application()
