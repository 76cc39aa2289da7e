"""Django app config for the records API and dashboard."""

from django.apps import AppConfig


class RecordsApiConfig(AppConfig):
    name = "records_api"
    verbose_name = "Records"
