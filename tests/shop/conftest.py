"""Fixtures shared by the shop tests."""

from tests.shop.test_order_flow import two_shops  # noqa: F401 - re-exported fixture
