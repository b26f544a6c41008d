"""marshmallow schemas of the shop's API."""
