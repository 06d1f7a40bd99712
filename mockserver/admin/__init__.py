"""The admin API described and shown: its index, its OpenAPI document, the dashboard."""

from mockserver.admin.pages import register

__all__ = ["register"]
