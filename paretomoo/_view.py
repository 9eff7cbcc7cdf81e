"""A read-only view of a stored study: what the report and ``compare`` read of one.

``paretomoo.api.Study`` is one; the readers take this protocol instead of that class,
so the public API can import them without importing itself back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from paretomoo._results import Pick
    from paretomoo.spec import StudySpec
    from paretomoo.store import BaselineRecord, Store
    from paretomoo.summary import Summary


class StudyView(Protocol):
    """A stored study, read only: its name, spec, store, summary (front and evidence), pick and baselines."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> StudySpec: ...

    @property
    def summary(self) -> Summary: ...

    store: Store

    def pick(self) -> Pick:
        """The default pick (``paretomoo.api.Study.pick`` without arguments)."""
        ...

    def baselines(self) -> list[BaselineRecord]:
        """The study's stored baseline records."""
        ...
