"""PRV-2 tables: each graduate's state per module, and the counters the statistics pages read.

`graduate_stat` holds one row per graduate (the state last counted); `stat_counter` holds, per school,
院系 (0 = the whole school), cohort, module and bucket, how many graduates are in it. Both are written only
by `domain.statistics` in the transaction of the change, so a page reads a few hundred counter rows and
never counts graduates.
"""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class GraduateStat(Base):
    """The states of one graduate as last counted (see `domain.statistics` for their definitions).

    A state is registered / reviewing / unregistered, or '' when the graduate is not counted in that module
    (deleted, GRAD-5; hukou: 户口未转入学校, MOD-5)."""

    __tablename__ = "graduate_stat"
    __table_args__ = (
        # the 档案/户口信息管理 lists of one school, newest first, by state (PRV-1)
        Index("ix_graduate_stat_school_graduate", "school_id", "graduate_id"),
        Index("ix_graduate_stat_school_archive", "school_id", "archive", "graduate_id"),
        Index("ix_graduate_stat_school_hukou", "school_id", "hukou", "graduate_id"),
    )

    graduate_id: Mapped[int] = mapped_column(ForeignKey("graduate.id"), primary_key=True, autoincrement=False)
    school_id: Mapped[int] = mapped_column(Integer)
    department_id: Mapped[int] = mapped_column(Integer)
    cohort: Mapped[int] = mapped_column(Integer)
    destination: Mapped[str] = mapped_column(String(12), default="")
    dest_category: Mapped[str] = mapped_column(String(30), default="")  # of the effective destination (DST-4)
    dest_type: Mapped[str] = mapped_column(String(30), default="")
    archive: Mapped[str] = mapped_column(String(12), default="")
    hukou: Mapped[str] = mapped_column(String(12), default="")


class StatCounter(Base):
    """How many graduates of one school (院系 0: all of them), cohort and module are in one bucket.

    Buckets: the states (registered, reviewing, unregistered) and, for the destination module,
    ``cat:<category>`` and ``type:<dest_type>`` of the registered graduates. Moved only by
    ``INSERT ... ON CONFLICT DO UPDATE SET n = n + :d`` (a missing row starts at the difference), in a fixed
    key order."""

    __tablename__ = "stat_counter"

    school_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cohort: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    module: Mapped[str] = mapped_column(String(12), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
