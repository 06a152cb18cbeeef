"""The training's output into Postgres: the job's Parquet files COPYed into the run's rows.

``run_partitions_load`` COPYs the recommendations and similar titles into tables of their own
(committed, read by nothing, given their keys after the load); ``run_rows_write``, inside the
transaction that switches to the run, COPYs the title and user vectors (with their community and
place on the map) and attaches those tables as the run's partitions. Rows reach Postgres as CSV
built from Arrow tables in a thread beside the COPY, ids reserved in one call per table.
"""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as pds
from django.db import connection, transaction

from recommender.models import ModelRun, Recommendation, SimilarTitle, TitleFactor, UserFactor
from recommender.training.export import tconsts_from_items
from recommender.training.partitions import PARTITIONED_TABLES, partition_keys_build, partition_name
from recommender.training.runs import PROGRESS_WRITE_BACK, Heartbeat, TrainingError


def _pg_arrays(values: pa.Array) -> pa.Array:
    """list<float> to Postgres array literals ``{0.1,-2.5e-07}`` (pyarrow's shortest float text)."""
    joined = pc.binary_join(pc.cast(values, pa.list_(pa.string())), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


def _ids_reserve(cursor, table: str, count: int) -> int:
    """Reserve ``count`` ids of ``table`` in one call (instead of a nextval per row); returns the
    first. Only a training writes these tables, one at a time; unused ids are just a gap."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s)",
        [table, table, max(count, 1) - 1],
    )
    return cursor.fetchone()[0] - max(count, 1) + 1


def _csv(data: pa.Table, first_id: int) -> bytes:
    data = data.add_column(0, "id", pa.array(np.arange(first_id, first_id + data.num_rows, dtype=np.int64)))
    buffer = io.BytesIO()
    pcsv.write_csv(data, buffer, pcsv.WriteOptions(include_header=False, batch_size=65536))
    return buffer.getvalue()


def _batches(path: Path, columns: list[str], sort_key: Callable[[pa.Table], pa.Array], batch_size: int = 5_000):
    """The file's rows in batches, in the order of ``sort_key`` (the rows' key in their table):
    rows then reach each index of their table in key order (appended at its right edge, not
    inserted all over it), which makes the COPY markedly faster. The job's files hold one part
    per Spark task, so they are read whole (one run's output: tens of MB) and sorted."""
    if not path.exists():
        return
    table = pds.dataset(str(path), format="parquet").to_table(columns=columns)
    yield from table.take(pc.sort_indices(sort_key(table))).to_batches(max_chunksize=batch_size)


def _by_tconst(table: pa.Table) -> pa.Array:
    return tconsts_from_items(table["item"].combine_chunks())


def _by_user(table: pa.Table) -> pa.Array:
    return table["user"]


TABLE_COLUMNS = {
    TitleFactor: [
        "run_id",
        "title_id",
        "factors",
        "rating_factors",
        "bias",
        "support",
        "x",
        "y",
        "neighbours",
        "neighbour_scores",
        "star_neighbours",
        "star_neighbour_scores",
        "item_neighbours",
        "item_neighbour_weights",
    ],
    UserFactor: ["run_id", "user_id", "factors", "rating_factors", "bias", "community_id", "x", "y"],
    Recommendation: ["run_id", "user_id", "title_id", "rank", "score", "predicted_rating", "confidence"],
    SimilarTitle: ["run_id", "title_id", "similar_id", "rank", "score"],
}
TABLE_NAMES = {
    TitleFactor: "title_factors",
    UserFactor: "user_factors",
    Recommendation: "recommendations",
    SimilarTitle: "similar_titles",
}


def _constant(size: int, value) -> pa.Array:
    return pa.array(np.full(size, value, dtype=np.int64))


def _placed(keys: pa.Array, placed_keys: pa.Array, columns: list[np.ndarray]) -> list[pa.Array]:
    """``columns`` (aligned with ``placed_keys``) for the rows ``keys``; null where a key has no place."""
    index = pc.index_in(keys, value_set=placed_keys)
    missing = index.is_null().to_numpy(zero_copy_only=False)
    rows = index.fill_null(0).to_numpy(zero_copy_only=False)
    return [
        pa.array(np.asarray(column)[rows] if len(column) else np.zeros(len(keys), column.dtype), mask=missing)
        for column in columns
    ]


def _factor_pieces(run_id: int, output_dir: Path, placement=None):
    """(model, table) of the run's title and user vectors, with their community and place on the
    map when ``placement`` (``recommender.communities.Placement``) is given."""
    if placement is not None:
        titles, titles_xy = pa.array(placement.title_ids, pa.string()), np.asarray(placement.title_xy).reshape(-1, 2)
        users, users_xy = pa.array(placement.user_ids, pa.int64()), np.asarray(placement.user_xy).reshape(-1, 2)
        communities = np.asarray(placement.community_ids, dtype=np.int64)
    else:
        titles, titles_xy = pa.array([], pa.string()), np.zeros((0, 2))
        users, users_xy, communities = pa.array([], pa.int64()), np.zeros((0, 2)), np.zeros(0, np.int64)
    titles_path = output_dir / "titles.parquet"
    # A job without a content side (older output, a test's own file) writes no neighbour lists.
    names = pds.dataset(str(titles_path)).schema.names if titles_path.exists() else []
    with_neighbours, with_star = "neighbours" in names, "star_neighbours" in names
    with_items = "item_neighbours" in names  # the item-item lists (DESIGN.md §1)
    columns = ["item", "factors", "rating_factors", "bias", "support"]
    columns += ["neighbours", "neighbour_scores"] if with_neighbours else []
    columns += ["star_neighbours", "star_neighbour_scores"] if with_star else []
    columns += ["item_neighbours", "item_neighbour_weights"] if with_items else []
    for batch in _batches(titles_path, columns, _by_tconst):
        tconsts = tconsts_from_items(batch["item"])
        nothing = pa.nulls(batch.num_rows, pa.string())
        if not with_neighbours:
            batch = batch.append_column("neighbours", nothing).append_column("neighbour_scores", nothing)
        if not with_star:
            batch = batch.append_column("star_neighbours", nothing).append_column("star_neighbour_scores", nothing)
        if not with_items:
            batch = batch.append_column("item_neighbours", nothing).append_column("item_neighbour_weights", nothing)
        x, y = _placed(tconsts, titles, [titles_xy[:, 0], titles_xy[:, 1]])
        yield (
            TitleFactor,
            pa.table(
                [
                    _constant(batch.num_rows, run_id),
                    tconsts,
                    _pg_arrays(batch["factors"]),
                    _pg_arrays(batch["rating_factors"]),
                    batch["bias"],
                    batch["support"],
                    x,
                    y,
                    _pg_arrays(batch["neighbours"]) if with_neighbours else batch["neighbours"],
                    _pg_arrays(batch["neighbour_scores"]) if with_neighbours else batch["neighbour_scores"],
                    _pg_arrays(batch["star_neighbours"]) if with_star else batch["star_neighbours"],
                    _pg_arrays(batch["star_neighbour_scores"]) if with_star else batch["star_neighbour_scores"],
                    _pg_arrays(batch["item_neighbours"]) if with_items else batch["item_neighbours"],
                    _pg_arrays(batch["item_neighbour_weights"]) if with_items else batch["item_neighbour_weights"],
                ],
                names=TABLE_COLUMNS[TitleFactor],
            ),
        )
    for batch in _batches(output_dir / "users.parquet", ["user", "factors", "rating_factors", "bias"], _by_user):
        owners = pc.cast(batch["user"], pa.int64())
        community, x, y = _placed(owners, users, [communities, users_xy[:, 0], users_xy[:, 1]])
        yield (
            UserFactor,
            pa.table(
                [
                    _constant(batch.num_rows, run_id),
                    owners,
                    _pg_arrays(batch["factors"]),
                    _pg_arrays(batch["rating_factors"]),
                    batch["bias"],
                    community,
                    x,
                    y,
                ],
                names=TABLE_COLUMNS[UserFactor],
            ),
        )


def _partition_pieces(run_id: int, output_dir: Path):
    """(model, table, users) of the run's recommendations and similar titles."""
    for batch in _batches(
        output_dir / "users.parquet", ["user", "items", "scores", "predicted", "confidence"], _by_user
    ):
        yield (
            Recommendation,
            _exploded(
                run_id, batch["user"], batch["items"], [batch["scores"], batch["predicted"], batch["confidence"]]
            ),
            batch.num_rows,
        )
    for batch in _batches(output_dir / "similar.parquet", ["item", "similar", "scores"], _by_tconst, batch_size=20_000):
        yield SimilarTitle, _exploded(run_id, tconsts_from_items(batch["item"]), batch["similar"], [batch["scores"]]), 0


def _row_bounds(output_dir: Path, models) -> dict:
    """Rows each of ``models``' tables will get (exact, from the Parquet files' list lengths)."""

    def rows(name: str, column: str | None = None) -> int:
        path = output_dir / name
        if not path.exists():
            return 0
        dataset = pds.dataset(str(path), format="parquet")
        if column is None:
            return dataset.count_rows()
        return sum(
            int(pc.sum(pc.list_value_length(batch[column])).as_py() or 0)
            for batch in dataset.to_batches(columns=[column])
        )

    sources = {
        TitleFactor: ("titles.parquet", None),
        UserFactor: ("users.parquet", None),
        Recommendation: ("users.parquet", "items"),
        SimilarTitle: ("similar.parquet", "similar"),
    }
    return {model: rows(*sources[model]) for model in models}


def _rows_copy(
    cursor,
    pieces,
    *,
    target: dict,
    first_ids: dict,
    on_users: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """COPY each (model, table[, users]) of ``pieces`` into ``target[model]``, ids from ``first_ids``.
    A thread turns the Arrow tables into CSV while this thread COPYs the previous one (pyarrow
    releases the GIL). Returns the rows written per table name."""
    counts = {TABLE_NAMES[model]: 0 for model in target}
    pending: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()
    next_id = dict(first_ids)

    def produce():
        try:
            for model, data, *users in pieces:
                body = _csv(data, next_id[model])
                next_id[model] += data.num_rows
                while not stop.is_set():
                    try:
                        pending.put((model, body, data.num_rows, users[0] if users else 0), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            pending.put(None)
        except BaseException as error:  # handed to the writer, which raises it
            pending.put(error)

    producer = threading.Thread(target=produce, name=f"{threading.current_thread().name}-csv", daemon=True)
    producer.start()
    try:
        while (item := pending.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if cancel is not None and cancel.is_set():
                raise TrainingError("the write-back was cancelled")
            model, body, rows, users = item
            columns = ", ".join(["id", *TABLE_COLUMNS[model]])
            cursor.copy_expert(
                f"COPY {target[model]} ({columns}) FROM STDIN WITH (FORMAT csv)", io.BytesIO(body), 1 << 20
            )
            counts[TABLE_NAMES[model]] += rows
            if users and on_users is not None:
                on_users(users)
    finally:
        stop.set()
        producer.join(timeout=30)
    return counts


def run_partitions_load(
    *, run: ModelRun, output_dir: Path, heartbeat: Heartbeat | None = None, cancel: threading.Event | None = None
) -> dict:
    """The run's recommendations and similar titles, COPYed into tables of their own (no index to
    update row by row), then given the partitioned tables' keys: committed, but read by nothing
    until ``run_rows_write`` attaches them in the transaction that switches to the run. The
    training calls this in a thread (a connection of its own) while it builds the communities; a
    failed run has these tables dropped with its rows (``run_rows_delete``). Returns row counts."""
    bounds = _row_bounds(output_dir, (UserFactor, *PARTITIONED_TABLES))
    total_users, done_users = bounds[UserFactor], 0

    def on_users(users: int) -> None:
        nonlocal done_users
        done_users += users
        if heartbeat is not None and total_users:
            heartbeat.set(
                "write-back",
                heartbeat.span(*PROGRESS_WRITE_BACK, 0.8 * done_users / total_users),
                f"recommendations of {done_users:,} of {total_users:,} users",
            )

    with transaction.atomic(), connection.cursor() as cursor:
        first_ids = {model: _ids_reserve(cursor, model._meta.db_table, bounds[model]) for model in PARTITIONED_TABLES}
        target = {model: partition_name(model, run.pk) for model in PARTITIONED_TABLES}
        for model, table in target.items():
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(
                f"CREATE TABLE {table} (LIKE {model._meta.db_table} INCLUDING DEFAULTS, CHECK (run_id = {int(run.pk)}))"
            )
        counts = _rows_copy(
            cursor,
            _partition_pieces(run.pk, output_dir),
            target=target,
            first_ids=first_ids,
            on_users=on_users,
            cancel=cancel,
        )
        for model, table in target.items():
            partition_keys_build(cursor, model, table)
    return counts


def run_rows_write(
    *,
    run: ModelRun,
    output_dir: Path,
    heartbeat: Heartbeat | None = None,
    placement=None,
    partitions_loaded: Callable[[], dict] | None = None,
) -> dict:
    """COPY the run's title and user vectors (with their ``placement``: community and map) and attach
    its recommendations and similar titles as the run's partitions; call inside the transaction
    that switches to the run. ``partitions_loaded``: when ``run_partitions_load`` runs elsewhere
    (the training: a thread), returns its counts once it has finished; without it the partitions
    are loaded here first. Returns the rows written per table."""
    if partitions_loaded is None:
        loaded = run_partitions_load(run=run, output_dir=output_dir, heartbeat=heartbeat)
        partitions_loaded = lambda: loaded  # noqa: E731
    bounds = _row_bounds(output_dir, (TitleFactor, UserFactor))
    with connection.cursor() as cursor:
        first_ids = {model: _ids_reserve(cursor, model._meta.db_table, count) for model, count in bounds.items()}
        counts = _rows_copy(
            cursor,
            _factor_pieces(run.pk, output_dir, placement),
            target={model: model._meta.db_table for model in bounds},
            first_ids=first_ids,
        )
        partitions = partitions_loaded()
        for model in PARTITIONED_TABLES:  # their keys are built: only linked here
            cursor.execute(
                f"ALTER TABLE {model._meta.db_table} ATTACH PARTITION {partition_name(model, run.pk)} "
                f"FOR VALUES IN ({int(run.pk)})"
            )
    return {**counts, **partitions}


def _exploded(run_id: int, owners: pa.Array, lists: pa.Array, parallel: list[pa.Array]) -> pa.Table:
    """One row per list element: run, owner, tconst, rank (1-based), the parallel lists' values."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    parents = pc.list_parent_indices(lists)
    lengths = pc.list_value_length(lists).fill_null(0).to_numpy(zero_copy_only=False)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    ranks = (np.arange(len(parents)) - starts + 1).astype(np.int16)
    flat_items = pc.list_flatten(lists)
    columns = [
        pa.array(np.full(len(parents), run_id, dtype=np.int64)),
        pc.take(owners, parents),
        tconsts_from_items(flat_items),
        pa.array(ranks),
    ]
    columns += [pc.list_flatten(values) for values in parallel]
    return pa.table(columns, names=[f"c{index}" for index in range(len(columns))])
