"""The courier's JSON API, for a future courier app: what the /livreur pages do.

A courier's bearer token (an approved courier account, else 403): open jobs near a
point, the jobs in hand, the courier's rounds with their stops in order, accept (409
when another courier was first), pick up with the pickup code, deliver with the
resident's code (422 naming the field for a wrong code), report a failure with a
reason; 409 when the job's state forbids the step, 404 for an unknown id or another
courier's job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from werkzeug.exceptions import Conflict, Forbidden, NotFound

from marketplace.api_auth import api_user, token_endpoint
from marketplace.api_auth import init_app as init_api_auth
from marketplace.api_common import fail, field_error
from marketplace.extensions import csrf, db
from marketplace.models import Role

from .models import Courier, DeliveryJob
from .operations import jobs, rounds
from .operations.couriers import approved_courier

blp = Blueprint(
    "courier_api",
    __name__,
    url_prefix="/api/v1/courier",
    description="Courier: open jobs near a point, rounds, accept, pick up, deliver, fail",
)
csrf.exempt(blp)  # token only, no cookie: CSRF does not apply
blp.record_once(lambda state: init_api_auth(state.app))


class JobSchema(Schema):
    id = fields.Int(required=True)
    reference = fields.Str(required=True)
    status = fields.Function(lambda job: job.status.value, required=True)
    shop_name = fields.Function(lambda job: job.shop.name, required=True)
    shop_latitude = fields.Float(required=True)
    shop_longitude = fields.Float(required=True)
    drop_address = fields.Str(required=True)
    drop_latitude = fields.Float(required=True)
    drop_longitude = fields.Float(required=True)
    slot_start = fields.DateTime(allow_none=True)
    slot_end = fields.DateTime(allow_none=True)
    fee_cents = fields.Int(required=True)
    failure_reason = fields.Str(allow_none=True)


class RoundStopSchema(Schema):
    position = fields.Int(required=True, metadata={"description": "drop order, from 1"})
    pickup_position = fields.Int(
        required=True, metadata={"description": "pickup order of the job's shop, from 1"}
    )
    job = fields.Nested(JobSchema, required=True)


class RoundSchema(Schema):
    id = fields.Int(required=True)
    status = fields.Function(lambda r: r.status.value, required=True)
    slot_start = fields.DateTime(required=True)
    slot_end = fields.DateTime(required=True)
    optimised_m = fields.Int(
        required=True, metadata={"description": "metres: pickups, then drops in this order"}
    )
    creation_order_m = fields.Int(
        required=True, metadata={"description": "metres in the order the jobs were made"}
    )
    stops = fields.List(fields.Nested(RoundStopSchema), required=True)


class NearJobSchema(Schema):
    job = fields.Nested(JobSchema, required=True)
    distance_km = fields.Float(allow_none=True, metadata={"description": "courier → shop"})
    trip_km = fields.Float(required=True, metadata={"description": "shop → drop point"})
    offered = fields.Bool(required=True, metadata={"description": "offered to you by dispatch"})


class PointArgsSchema(Schema):
    lat = fields.Float(validate=validate.Range(-90, 90))
    lon = fields.Float(validate=validate.Range(-180, 180))


class CodeArgsSchema(Schema):
    code = fields.Str(required=True, validate=validate.Length(min=1, max=20))


class FailArgsSchema(Schema):
    reason = fields.Str(required=True, validate=validate.Length(min=3, max=500))


def _approved(view_kwargs: dict[str, Any]) -> None:
    if approved_courier(api_user()) is None:
        raise Forbidden("Ce compte livreur n'est pas validé.")


# A courier's bearer token, of an approved account; documented with 401/403.
courier_only = token_endpoint(blp, Role.COURIER, check=_approved)


def _courier() -> Courier:
    courier = approved_courier(api_user())
    assert courier is not None
    return courier


def _step(action: Callable[[Courier], DeliveryJob]) -> DeliveryJob:
    """Run a step of the courier on a job and commit it: 404 for an unknown job or
    another courier's, 422 on `code` for a wrong code, 409 when its state forbids it."""
    try:
        job = action(_courier())
    except jobs.JobNotFound as exc:
        db.session.rollback()
        fail(NotFound, exc.message)
    except jobs.WrongCode as exc:
        db.session.rollback()
        field_error("code", exc.message)
    except jobs.JobError as exc:
        db.session.rollback()
        fail(Conflict, exc.message)
    db.session.commit()
    return job


def _held_step(job_id: int, action: Callable[[DeliveryJob, Courier], None]) -> DeliveryJob:
    """A step on a job the courier holds."""

    def held(courier: Courier) -> DeliveryJob:
        job = jobs.held_job(job_id, courier)
        action(job, courier)
        return job

    return _step(held)


@blp.route("/jobs")
class OpenJobs(MethodView):
    @courier_only
    @blp.arguments(PointArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, NearJobSchema(many=True))
    def get(self, lat: float | None = None, lon: float | None = None) -> Any:
        """Open jobs of the territory, nearest shop first (from lat/lon, else the
        courier's last position)."""
        if (lat is None) != (lon is None):
            field_error("lat", "lat et lon vont ensemble.")
        return jobs.open_jobs_near(_courier(), lat, lon)


@blp.route("/jobs/mine")
class MyJobs(MethodView):
    @courier_only
    @blp.response(200, JobSchema(many=True))
    def get(self) -> Any:
        """The jobs in hand and those finished today."""
        return jobs.todays_jobs(_courier())


@blp.route("/rounds")
class MyRounds(MethodView):
    @courier_only
    @blp.response(200, RoundSchema(many=True))
    def get(self) -> Any:
        """The rounds given to the courier (under way, or finished today): shops to
        collect from in `pickup_position` order, then drops in `position` order."""
        return rounds.courier_rounds(_courier())


@blp.route("/jobs/<int:job_id>/accept")
class Accept(MethodView):
    @courier_only
    @blp.response(200, JobSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def post(self, job_id: int) -> Any:
        """Take the job: one courier per job, 409 for whoever comes second."""
        return _step(lambda courier: jobs.accept(job_id, courier))


@blp.route("/jobs/<int:job_id>/pickup")
class PickUp(MethodView):
    @courier_only
    @blp.arguments(CodeArgsSchema)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def post(self, args: dict[str, Any], job_id: int) -> Any:
        """At the shop, with the sub-order's pickup code."""
        return _held_step(job_id, lambda job, c: jobs.pick_up(job, c, args["code"]))


@blp.route("/jobs/<int:job_id>/deliver")
class Deliver(MethodView):
    @courier_only
    @blp.arguments(CodeArgsSchema)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def post(self, args: dict[str, Any], job_id: int) -> Any:
        """At the door, with the resident's delivery code as proof."""
        return _held_step(job_id, lambda job, c: jobs.deliver(job, c, args["code"]))


@blp.route("/jobs/<int:job_id>/fail")
class Fail(MethodView):
    @courier_only
    @blp.arguments(FailArgsSchema)
    @blp.response(200, JobSchema)
    @blp.alt_response(404, "NOT_FOUND")
    @blp.alt_response(409, "CONFLICT")
    def post(self, args: dict[str, Any], job_id: int) -> Any:
        """Not delivered: the reason; the parcel goes back to the shop."""
        return _held_step(job_id, lambda job, c: jobs.fail(job, c, args["reason"]))
