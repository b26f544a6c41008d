"""Catalogue import jobs: one uploaded file, its dry run and its application."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from marketplace.extensions import Base
from marketplace.models import TimestampMixin, UTCDateTime, _enum


class ImportStatus(enum.StrEnum):
    UPLOADED = "uploaded"
    VALIDATING = "validating"  # dry run under way
    VALID = "valid"  # dry run found no error: may be applied
    INVALID = "invalid"  # dry run (or the re-check when applying) found errors
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"  # unexpected failure; nothing was written


class ImportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class ImportJob(TimestampMixin, Base):
    """An uploaded catalogue file and what became of it.

    The file itself is kept in `content` (deferred, never loaded with the row) so a
    worker on another machine can read it; it is dropped once applied.
    `errors` holds the first problems found, each {"row", "column", "message",
    "level": "error" | "warning"}; `error_count` counts them all.
    """

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[ImportFormat] = mapped_column(_enum(ImportFormat, "import_format"))
    status: Mapped[ImportStatus] = mapped_column(
        _enum(ImportStatus, "import_status"), default=ImportStatus.UPLOADED
    )
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    content: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_running(self) -> bool:
        return self.status in (ImportStatus.VALIDATING, ImportStatus.APPLYING)
