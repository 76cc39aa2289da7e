"""The local stack's admin login: create a superuser from the environment if missing.

``TWL_ADMIN_USERNAME`` / ``TWL_ADMIN_PASSWORD`` default to ``admin`` / ``admin``. Those
defaults exist for the embedded local stack on 127.0.0.1 only; never call this in a
deployed stage (there, create users with ``manage.py createsuperuser``).
"""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model

ADMIN_USERNAME_ENV = "TWL_ADMIN_USERNAME"
ADMIN_PASSWORD_ENV = "TWL_ADMIN_PASSWORD"
LOCAL_DEFAULT_USERNAME = "admin"
LOCAL_DEFAULT_PASSWORD = "admin"  # local stack only: it listens on loopback


def ensure_admin_user(*, username: str, password: str, email: str = "") -> bool:
    """Create a superuser called ``username`` unless one exists; True if it was created.

    An existing user is left as it is (its password is not reset).
    """
    user_model = get_user_model()
    if user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
        return False
    user_model._default_manager.create_superuser(
        **{user_model.USERNAME_FIELD: username}, email=email, password=password
    )
    return True


def admin_user_from_env() -> tuple[str, str] | None:
    """(username, password) for the local stack; None when either is set to empty."""
    username = os.environ.get(ADMIN_USERNAME_ENV, LOCAL_DEFAULT_USERNAME).strip()
    password = os.environ.get(ADMIN_PASSWORD_ENV, LOCAL_DEFAULT_PASSWORD)
    if not username or not password:
        return None
    return username, password
