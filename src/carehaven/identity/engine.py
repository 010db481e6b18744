"""The engine linkage runs on: DuckDB (embedded, the default) or Spark.

Both are reached through the same two doors: an Ibis backend for the standardisation and strong
keys, and a Splink database API for the model. Nothing above this module knows which it is.
"""

from __future__ import annotations

import itertools
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

EngineName = Literal["duckdb", "spark"]

_serial = itertools.count(1)


@dataclass
class Engine:
    name: EngineName
    backend: BaseBackend
    _views: set[str] = field(default_factory=set)  # Spark temporary views this engine made
    _apis: list[Any] = field(default_factory=list)  # Splink APIs on Spark, to clean up

    def load(self, table: pa.Table, prefix: str = "t") -> ir.Table:
        """Put an Arrow table where this engine computes, and return it as an Ibis table.

        DuckDB gets a temporary table; Spark a temporary view over the Arrow batches, so the
        rows are never written to Spark's warehouse (nor pass through pandas, which would turn
        integer columns with nulls into floats).
        """
        # Numbered across the process: engines on Spark share one session, and its views.
        name = f"_ch_{prefix}_{next(_serial)}"
        if self.name == "duckdb":
            # CREATE TABLE AS from a registered Arrow table: Ibis's create_table from Arrow breaks
            # with the sqlglot this project resolves.
            raw, arrow = self.backend.con, f"{name}_arrow"
            raw.register(arrow, table)
            try:
                raw.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS SELECT * FROM "{arrow}"')  # noqa: S608
            finally:
                raw.unregister(arrow)
            return self.backend.table(name)
        self._spark().createDataFrame(table).createOrReplaceTempView(name)
        self._views.add(name)
        return self.backend.table(name)

    def materialise(self, expr: ir.Table, name: str) -> ir.Table:
        """Compute ``expr`` once into a table called ``name`` (replacing one of that name)."""
        if self.name == "duckdb":
            # CREATE TABLE AS, rather than Ibis's create-then-insert, which breaks on some
            # expressions with the sqlglot this project resolves.
            sql = ibis.to_sql(expr, dialect="duckdb")
            self.backend.raw_sql(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {sql}')
            return self.backend.table(name)
        # A local checkpoint computes the rows once and cuts the lineage, so later queries on
        # the view neither recompute it nor grow an ever longer plan.
        self._frame(expr).localCheckpoint().createOrReplaceTempView(name)
        self._views.add(name)
        return self.backend.table(name)

    def drop(self, name: str) -> None:
        if self.name == "duckdb":
            self.backend.raw_sql(f'DROP TABLE IF EXISTS "{name}"')
        else:
            self._spark().catalog.dropTempView(name)
            self._views.discard(name)

    def _spark(self) -> Any:
        return self.backend._session

    def _frame(self, expr: ir.Table) -> Any:
        """A Spark DataFrame of an Ibis expression, compiled by this backend (which also
        registers any in-memory tables and UDFs the expression needs)."""
        self.backend._run_pre_execute_hooks(expr)
        return self._spark().sql(self.backend.compile(expr))

    def splink_api(self) -> Any:
        if self.name == "duckdb":
            import duckdb
            from splink import DuckDBAPI

            # Splink's working tables go to a connection of their own, in memory, so they never
            # land in the haven's data file.
            work = duckdb.connect()
            threads = self.backend.raw_sql("SELECT current_setting('threads')").fetchone()
            work.execute(f"SET threads = {int(threads[0])}")
            return DuckDBAPI(connection=work)
        from splink import SparkAPI

        # Splink's working tables are cached in the session ("persist"), not written as parquet
        # under the checkpoint folder (its default), so no copy of identifiers outlives the run.
        api = SparkAPI(spark_session=self._spark(), break_lineage_method="persist")  # type: ignore[no-untyped-call]
        self._apis.append(api)
        return api

    def to_splink(self, api: Any, expr: ir.Table, name: str) -> Any:
        """Register an Ibis expression's result as a Splink input table."""
        if self.name == "duckdb":
            return api.register(expr.to_pyarrow(), table_name=name)
        # The session outlives this engine: a view of this name may be left from an earlier run.
        self._spark().catalog.dropTempView(name)
        self._views.add(name)
        return api.register(self._frame(expr), table_name=name)

    def close(self) -> None:
        """Disconnect DuckDB; on Spark, drop this engine's views but keep the shared session."""
        if self.name == "duckdb":
            self.backend.disconnect()
            return
        for api in self._apis:
            api.delete_tables_created_by_splink_from_db()
        self._apis.clear()
        for name in sorted(self._views):
            self.drop(name)


def duckdb_engine(threads: int | None = None) -> Engine:
    con = ibis.duckdb.connect()
    if threads:
        con.raw_sql(f"SET threads = {int(threads)}")
    return Engine("duckdb", con)


@cache
def _spark_session(work: str) -> Any:
    """One local Spark session per process: starting one takes many seconds."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    session = (
        SparkSession.builder.master("local[2]")
        .appName("carehaven-identity")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.default.parallelism", "4")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.warehouse.dir", str(Path(work) / "warehouse"))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setCheckpointDir(str(Path(work) / "checkpoints"))
    session.sparkContext.setLogLevel("ERROR")
    return session


def spark_engine(work: Path | None = None) -> Engine:
    folder = str(work or Path(tempfile.gettempdir()) / "carehaven-spark")
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Engine("spark", ibis.pyspark.connect(_spark_session(folder)))


def engine(name: EngineName, *, threads: int | None = None, work: Path | None = None) -> Engine:
    return duckdb_engine(threads) if name == "duckdb" else spark_engine(work)
