"""Search page: products and shops of the territory, with filters."""

from __future__ import annotations

from flask import render_template, request

from marketplace.models import utcnow

from ..operations import search as ops
from .browse import shop_status
from .common import METHOD_LABELS, PageText, bp
from .page_cache import BASE, CATALOGUE, cached_page


@bp.get("/recherche")
@cached_page(BASE, CATALOGUE, query=ops.SEARCH_ARGS)
def search() -> str:
    communes = ops.list_communes()
    trades = ops.list_trades()
    params, errors = ops.parse_search(
        request.args, [c for c, _ in communes], [t for t, _ in trades]
    )
    now = utcnow()
    result = ops.search(params, now)
    if result.total and params.page > result.pages:
        params.page = result.pages  # past the last page: show the last one
        result = ops.search(params, now)
    status = shop_status(result.shops, now)
    return render_template(
        "shop/search.html",
        result=result,
        params=params,
        errors=errors,
        communes=communes,
        trades=trades,
        method_labels=METHOD_LABELS,
        sort_labels=ops.SORT_LABELS,
        text=PageText(),
        shop_open=status["open_now"],
        shop_next=status["next_opening"],
        page_size=ops.PAGE_SIZE,
    )
