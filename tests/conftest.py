"""Registers the server test harness (`dialtone.server.testing`: throwaway PostgreSQL, in-process
and subprocess servers) for the cross-component suites."""

import pytest

import dialtone.server.testing as server_testing


def pytest_configure(config: pytest.Config) -> None:
    """Register the harness once (a nested conftest may not use `pytest_plugins`)."""
    server_testing.register(config)
