"""Django app config for the pipeline (it owns the management commands)."""

from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Pipeline"

    def ready(self) -> None:
        """Let the source registry see the declared sources (stored in the ledger table).

        The registry may not read AWS itself; the provider reads with the configuration
        of the moment (``get_config`` at each use), so nothing is read at startup.
        """
        from pipeline.core.config import get_config
        from pipeline.stores.declared_sources import declared_provider_install

        declared_provider_install(get_config)
