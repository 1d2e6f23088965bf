"""Where data lives: resolved once, from arguments or the environment, and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DB = "qualify.db"
DB_ENV = "QUALIFY_DB"
QUEUE_ENV = "QUALIFY_QUEUE"


@dataclass(frozen=True)
class Settings:
    """``db``: a path or URL for the store; ``queue``: a Redis URL, or None for the store's
    own database."""

    db: str = DEFAULT_DB
    queue: str | None = None

    @classmethod
    def resolve(cls, db: str | None = None, queue: str | None = None) -> Settings:
        return cls(
            db=db or os.environ.get(DB_ENV) or DEFAULT_DB,
            queue=queue or os.environ.get(QUEUE_ENV) or None,
        )
