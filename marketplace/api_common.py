"""What every domain's JSON API shares: the error shape and pagination."""

from __future__ import annotations

from typing import Any, NoReturn

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select
from werkzeug.exceptions import HTTPException, UnprocessableEntity

from .extensions import db


def fail(exc_class: type[HTTPException], message: str, errors: Any = None) -> NoReturn:
    """Raise the marketplace's error shape; `errors` by location, as flask-smorest's."""
    exc = exc_class(message)
    if errors:
        exc.data = {"messages": errors}  # type: ignore[attr-defined]
    raise exc


def field_error(field: str, message: str, location: str = "json") -> NoReturn:
    """422 naming the field and what is expected."""
    fail(UnprocessableEntity, message, {location: {field: [message]}})


def paginate(query: Select[Any], pagination: PaginationParameters) -> list[Any]:
    """One page of `query` (ordered, with its loader options) and the total count."""
    total = db.session.scalar(
        select(func.count()).select_from(query.order_by(None).options().subquery())
    )
    pagination.item_count = total or 0
    if pagination.first_item >= pagination.item_count:
        return []  # also keeps absurd page numbers away from the database
    return list(
        db.session.scalars(query.limit(pagination.page_size).offset(pagination.first_item))
        .unique()
        .all()
    )
