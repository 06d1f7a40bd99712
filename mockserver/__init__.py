"""mockserver: an OpenAPI-driven mock server for contract testing."""

__version__ = "0.1.0"
