"""Looking after a storage: list its studies, delete one, remove the files a study no longer needs.

paretomoo.list_studies("sqlite:///runs/ecommerce.db")           # every study: trials, front, hypervolume
paretomoo.gc_study("studies/ecommerce.toml")                     # a dry run: what would go, and why
paretomoo.gc_study("studies/ecommerce.toml", yes=True)           # remove it
paretomoo.delete_study("ecommerce", "sqlite:///runs/ecommerce.db", yes=True)
"""

from __future__ import annotations

from paretomoo.admin._listing import StudyInfo, list_studies
from paretomoo.admin._removal import Item, Plan, delete_study, gc_study

__all__ = ["Item", "Plan", "StudyInfo", "delete_study", "gc_study", "list_studies"]
