"""The Cityzens' JSON API: my recommendations, my wallet. A per-user bearer token
(marketplace/api_auth.py), as the resident API; no cookie is read, so no CSRF."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import Forbidden, NotFound, UnprocessableEntity

from marketplace import ledger
from marketplace.api_auth import api_user, token_endpoint
from marketplace.api_auth import init_app as init_api_auth
from marketplace.api_common import fail
from marketplace.extensions import csrf, db
from marketplace.operations import FieldError

from . import operations as ops
from .models import Recommendation
from .schemas import RecommendationArgsSchema, RecommendationSchema, WalletSchema
from .views import share_url

blp = Blueprint("cityzens_api", __name__, url_prefix="/api/v1", description="Cityzens and wallet")
csrf.exempt(blp)
blp.record_once(lambda state: init_api_auth(state.app))


def _body(rec: Recommendation) -> Recommendation:
    rec.share_url = share_url(rec.code)  # type: ignore[attr-defined]
    return rec


@blp.route("/cityzen/recommendations")
class Recommendations(MethodView):
    @token_endpoint(blp)
    @blp.response(200, RecommendationSchema(many=True))
    def get(self) -> Any:
        """List my recommendations

        Withdrawn ones included (`withdrawn`), and those the collectivité hid
        (`hidden`, with its `hidden_reason`); empty when I am not a Cityzen.
        """
        return [_body(r) for r in ops.recommendations_of(ops.cityzen_of(api_user()))]

    @token_endpoint(blp, errors=(404,))
    @blp.arguments(RecommendationArgsSchema)
    @blp.response(201, RecommendationSchema)
    @blp.alt_response(422, "UNPROCESSABLE_ENTITY")
    def post(self, args: Mapping[str, Any]) -> Any:
        """Recommend a product

        Creates my recommendation of a published product, or replaces its comment
        (one per product: its share link never changes). Only for Cityzens (403).
        """
        cityzen = ops.active_cityzen(api_user())
        if cityzen is None:
            fail(Forbidden, "Devenez Cityzen pour recommander un produit.")
        try:
            rec = ops.recommend(cityzen, args["product_id"], args["comment"])
        except ops.NotFound:
            db.session.rollback()
            fail(NotFound, "Produit introuvable.")
        except FieldError as exc:
            db.session.rollback()
            fail(
                UnprocessableEntity,
                "; ".join(exc.errors.values()),
                {"json": {k: [v] for k, v in exc.errors.items()}},
            )
        db.session.commit()
        return _body(rec)


@blp.route("/me/wallet")
class Wallet(MethodView):
    @token_endpoint(blp)
    @blp.response(200, WalletSchema)
    def get(self) -> Any:
        """Get my wallet

        The credit I may spend (cents) and its latest movements, newest first.
        """
        user = api_user()
        return {
            "credit_cents": ledger.wallet_credit(user.id),
            "movements": ops.wallet_movements(user.id),
        }
