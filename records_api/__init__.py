"""DRF endpoints and the server-rendered dashboard views."""
