"""Writing the synthetic crowd: ``synthetic_users_generate`` reads the title pool, generates the
users block by block (``generation``) and writes them, users through a staging table and their
ratings with COPY.

Two ways to write, chosen by size. A crowd at least as large as the rating table there already (a
fresh site, the benchmark's 100,000 users) is written in one transaction with the rating table's
secondary B-trees dropped and rebuilt at the end: COPY into a bare heap and one sorted build
each cost about a third of 4 million insertions into three B-trees (measured, docs/synthetic-crowd.md).
A smaller crowd next to many ratings goes chunk by chunk, one transaction each, ``writers`` at
once on their own connections, the indexes kept."""

from __future__ import annotations

import io
import math
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace

import numpy as np
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction

from accounts.models import User
from ratings.synthetic.config import STARS, GeneratorConfig
from ratings.synthetic.generation import BLOCK_SIZE, Block, TitlePool, block_generate

# Blocks written per transaction: 5,000 users, about 200,000 ratings in one COPY.
CHUNK_BLOCKS = 5


@dataclass
class GenerationReport:
    seed: int
    users_requested: int
    users_created: int = 0
    users_existing: int = 0
    ratings_created: int = 0
    titles_in_pool: int = 0
    seconds: float = 0.0
    fast_path: bool = False
    indexes_rebuilt: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


ProgressCallback = Callable[[int, int, str], None]


def synthetic_title_pool(*, config: GeneratorConfig) -> TitlePool:
    """The titles in play: rated on IMDb, enough votes, an accepted type, not removed, with their
    people (title.crew and the leading title.principals of ``config.people_roles``). Ordered by
    ``tconst`` so the same catalog always gives the same pool."""
    in_play = """SELECT tconst FROM catalog_title
                 WHERE removed_at IS NULL AND average_rating IS NOT NULL AND num_votes >= %s
                   AND NOT (title_type = ANY(%s))"""
    in_play_params: list = [config.min_votes, list(config.excluded_title_types)]
    roles = list(config.people_roles)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT tconst, average_rating, num_votes, genres, title_type, start_year, runtime_minutes
                FROM catalog_title WHERE tconst IN ({in_play}) ORDER BY tconst""",  # noqa: S608
            in_play_params,
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"""SELECT title_id, person_id FROM catalog_crew WHERE role = ANY(%s) AND title_id IN ({in_play})
                UNION
                SELECT title_id, person_id FROM catalog_principal
                WHERE category = ANY(%s) AND ordering <= %s AND title_id IN ({in_play})""",  # noqa: S608
            [roles, *in_play_params, roles, config.leading_billing, *in_play_params],
        )
        credits = cursor.fetchall()
    return TitlePool.build(rows, config, credits)


def synthetic_users_validate(
    *, users: int, seed: int, min_votes: int | None = None, config: GeneratorConfig | None = None, writers: int = 2
) -> GeneratorConfig:
    """The configuration a generation with these arguments uses; ``ValidationError`` if any is bad."""
    config = config or GeneratorConfig()
    if min_votes is not None:
        config = replace(config, min_votes=min_votes)
    config.validate()
    if not isinstance(users, int) or isinstance(users, bool) or users < 1:
        raise ValidationError("The number of users must be a positive whole number.")
    if users > 10_000_000:
        raise ValidationError("At most 10,000,000 synthetic users per run.")
    if not isinstance(seed, int) or isinstance(seed, bool) or not (0 <= seed < 2**63):
        raise ValidationError("The seed must be a whole number from 0 to 2^63-1.")
    if not isinstance(writers, int) or not (1 <= writers <= 8):
        raise ValidationError("writers must be from 1 to 8.")
    return config


def synthetic_users_generate(
    *,
    users: int,
    seed: int,
    min_votes: int | None = None,
    config: GeneratorConfig | None = None,
    writers: int = 2,
    skip_row_triggers: bool = True,
    chunk_blocks: int = CHUNK_BLOCKS,
    progress: ProgressCallback | None = None,
    rebuild_indexes: bool | None = None,
) -> GenerationReport:
    """Create synthetic users ``seed:0 .. seed:users-1`` that do not exist yet, with their ratings.

    Validates everything before writing. Commits one chunk of users (with all their ratings) at a
    time, so an interrupted run keeps whole users and the next run completes it. ``writers``
    chunks are generated and written at once, each on its own database connection (Postgres
    maintains the rating table's indexes on one core per connection); inside a caller's
    transaction everything runs on the caller's connection instead, which alone sees its rows.

    ``rebuild_indexes`` (None: when the crowd is at least as large as the rating table, see
    ``_rebuild_worthwhile``) writes everything in one transaction instead, the rating table's
    secondary indexes dropped first and rebuilt before the commit. The table is locked meanwhile
    (site pages reading ratings wait), so it is for a fresh site or a crowd that dwarfs it; an
    interrupted run then keeps nothing and the next one starts over. A role that may not drop
    the indexes (not the table's owner) gets the chunked writing.
    """
    started = time.monotonic()
    config = synthetic_users_validate(users=users, seed=seed, min_votes=min_votes, config=config, writers=writers)
    if not isinstance(chunk_blocks, int) or chunk_blocks < 1:
        raise ValidationError("chunk_blocks must be a positive whole number.")

    pool = synthetic_title_pool(config=config)
    if len(pool) == 0:
        raise ValidationError(
            f"No titles to rate: none has an IMDb rating and at least {config.min_votes} votes. "
            "Import the IMDb data first, or lower --min-votes."
        )
    report = GenerationReport(seed=seed, users_requested=users, titles_in_pool=len(pool))
    writer = _ChunkWriter(seed=seed, users=users, pool=pool, config=config, skip_row_triggers=skip_row_triggers)
    blocks = math.ceil(users / BLOCK_SIZE)
    chunks = [range(first, min(first + chunk_blocks, blocks)) for first in range(0, blocks, chunk_blocks)]
    if progress:
        progress(0, users, f"{len(pool):,} titles in play; generating {users:,} users")
    done = 0

    def account(chunk: range, created: int, ratings: int, fast: bool) -> None:
        nonlocal done
        done += min(users, chunk.stop * BLOCK_SIZE) - chunk.start * BLOCK_SIZE
        report.users_created += created
        report.ratings_created += ratings
        report.fast_path = report.fast_path or fast
        if progress:
            progress(done, users, f"{done:,} of {users:,} users; {report.ratings_created:,} ratings written")

    # A second run finds every user there (each written with all their ratings): nothing to do.
    pending = [chunk for chunk in chunks if not writer.chunk_complete(chunk)]
    for chunk in chunks:
        if chunk not in pending:
            account(chunk, 0, 0, False)
    pending_users = sum(min(users, chunk.stop * BLOCK_SIZE) - chunk.start * BLOCK_SIZE for chunk in pending)
    if pending and rebuild_indexes is None:
        rebuild_indexes = _rebuild_worthwhile(ratings=int(pending_users * config.mean_ratings))
    if pending and rebuild_indexes:
        report.indexes_rebuilt = _write_rebuilding_indexes(writer, pending, account, progress)
        if report.indexes_rebuilt and progress:  # the last word is the count, as in the chunked writing
            progress(done, users, f"{done:,} of {users:,} users; {report.ratings_created:,} ratings written")
    if pending and not report.indexes_rebuilt:
        if writers == 1 or len(pending) == 1 or connection.in_atomic_block:
            for chunk in pending:
                account(chunk, *writer.write(chunk))
        else:
            with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="synthetic-writer") as executor:
                futures = {executor.submit(writer.write_on_own_connection, chunk): chunk for chunk in pending}
                try:
                    for future in as_completed(futures):
                        account(futures[future], *future.result())
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
    if report.users_created:
        with connection.cursor() as cursor:
            # Fresh statistics: plans over the rating table (foreign-key checks, the recommender's
            # exports) go wrong when the planner still thinks it is empty.
            cursor.execute("ANALYZE accounts_user, ratings_rating")
    report.users_existing = users - report.users_created
    report.seconds = round(time.monotonic() - started, 3)
    return report


class _ChunkWriter:
    """Generates a chunk of blocks and writes it in one transaction: new users, then their ratings."""

    def __init__(self, *, seed: int, users: int, pool: TitlePool, config: GeneratorConfig, skip_row_triggers: bool):
        self.seed, self.users, self.pool, self.config = seed, users, pool, config
        self.skip_row_triggers = skip_row_triggers
        # Ratings in title order keep the title index's insertions page after page (chunked writing).
        self.title_order = True
        # Each title's COPY tail for each star, built once ("tt0000001\t4\n"), as a row of bytes
        # padded with NULs: a chunk's COPY text is then one gather and one mask, no Python per row.
        tails = [f"{tconst}\t{star}\n".encode() for tconst in pool.tconst.tolist() for star in STARS]
        self.tails = _padded_bytes(tails)

    def write_on_own_connection(self, chunk: range) -> tuple[int, int, bool]:
        try:
            return self.write(chunk)
        finally:
            connection.close()  # this thread's connection; the thread may be reused or end

    def write(self, chunk: range) -> tuple[int, int, bool]:
        blocks = [block_generate(seed=self.seed, block=b, pool=self.pool, config=self.config) for b in chunk]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")  # small statements: JIT would only add compile time
            new_users = self._users_insert(cursor, blocks)
            if not new_users:
                return 0, 0, False
            fast = self.skip_row_triggers and _triggers_skip(cursor)
            index_to_id = {int(external_id.split(":")[1]): user_id for user_id, external_id in new_users}
            first = blocks[0].first_index
            # Per user of the chunk (position = index - first): its id, 0 if it existed already.
            user_ids = np.array(
                [
                    index_to_id.get(first + position, 0)
                    for position in range(sum(block.persona.shape[0] for block in blocks))
                ]
            )
            user = np.concatenate([block.first_index - first + block.rating_user for block in blocks])
            title = np.concatenate([block.rating_title for block in blocks])
            stars = np.concatenate([block.rating_stars for block in blocks])
            rows = np.flatnonzero(user_ids[user] > 0)
            if self.title_order:
                # In title order the three title indexes are updated page after page, not all over.
                rows = rows[np.argsort(title[rows], kind="stable")]
            # created_at and updated_at as "now": the transaction's time, like auto_now_add, and
            # Postgres reads that word twice as fast as a written-out timestamp. The user id is
            # zero-padded to a fixed width (Postgres reads "000123" as 123), so every prefix is
            # one row of bytes; the NULs padding the tails are dropped by the mask.
            width = len(str(int(user_ids.max())))
            prefixes = np.frombuffer(
                "".join(f"now\tnow\t{user_id:0{width}d}\t" for user_id in user_ids.tolist()).encode(), dtype=np.uint8
            ).reshape(len(user_ids), -1)
            lines = np.concatenate(
                [prefixes[user[rows]], self.tails[title[rows] * len(STARS) + stars[rows] - 1]], axis=1
            )
            body = io.BytesIO(lines[lines != 0].tobytes())
            del lines
            cursor.copy_expert(
                "COPY ratings_rating (created_at, updated_at, user_id, title_id, score) FROM STDIN", body, 1 << 20
            )
            ratings = rows.size
            if fast:
                # The per-row foreign-key triggers were off: check the same references once per
                # title instead. The users were inserted above in this transaction.
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")
                wanted = self.pool.tconst[np.unique(title[rows])].tolist()
                cursor.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM catalog_title WHERE tconst = ANY(%s) FOR KEY SHARE) t",
                    [wanted],
                )
                found = cursor.fetchone()[0]
                if found != len(wanted):
                    raise ValidationError(
                        f"{len(wanted) - found} title(s) left the catalog during generation; "
                        "nothing of this chunk was written."
                    )
        return len(new_users), int(ratings), fast

    def chunk_complete(self, chunk: range) -> bool:
        """Do all the chunk's users exist already? Then there is nothing to generate: a user is
        written in one transaction with all their ratings."""
        first, stop = chunk.start * BLOCK_SIZE, min(self.users, chunk.stop * BLOCK_SIZE)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM accounts_user WHERE kind = %s AND external_id = ANY(%s)",
                [User.Kind.SYNTHETIC, [f"{self.seed}:{index}" for index in range(first, stop)]],
            )
            return cursor.fetchone()[0] == stop - first

    def _users_insert(self, cursor, blocks: list[Block]) -> list[tuple[int, str]]:
        """COPY the blocks' users into a staging table, insert those not there yet; (id, external_id) of the new."""
        lines = []
        for block in blocks:
            for offset, persona in enumerate(block.persona.tolist()):
                index = block.first_index + offset
                if index >= self.users:
                    break
                # An unusable password in Django's own format ("!" + random), as make_password(None).
                lines.append(
                    f"synthetic:{self.seed}:{index}\t{UNUSABLE_PASSWORD_PREFIX}{secrets.token_urlsafe(30)}\t"
                    f"{self.seed}:{index}\t{self.config.personas[persona].name}\n"
                )
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS synthetic_user_stage "
            "(username text, password text, external_id text, persona text) ON COMMIT DELETE ROWS"
        )
        # Emptied at commit, but a caller's transaction may have used it already.
        cursor.execute("TRUNCATE synthetic_user_stage")
        cursor.copy_expert("COPY synthetic_user_stage FROM STDIN", io.StringIO("".join(lines)), 1 << 20)
        cursor.execute(
            """INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                   is_active, date_joined, kind, persona, external_id, favourite_genres)
               SELECT password, false, username, '', '', '', false, true, now(), %s, persona, external_id, '[]'::jsonb
               FROM synthetic_user_stage ORDER BY length(external_id), external_id
               ON CONFLICT DO NOTHING RETURNING id, external_id""",
            [User.Kind.SYNTHETIC],
        )
        return cursor.fetchall()


def _triggers_skip(cursor) -> bool:
    """Skip the per-row foreign-key triggers for this transaction when the role may (superuser, or
    ``GRANT SET ON PARAMETER session_replication_role``): they cost more than writing the rows. The
    caller then checks the references itself, once per title. Anyone else keeps the triggers."""
    cursor.execute("SAVEPOINT synthetic_replica")
    try:
        cursor.execute("SET LOCAL session_replication_role = replica")
    except DatabaseError:  # permission denied: back to the savepoint, triggers stay on
        cursor.execute("ROLLBACK TO SAVEPOINT synthetic_replica")
        return False
    cursor.execute("RELEASE SAVEPOINT synthetic_replica")
    return True


def _padded_bytes(values: list[bytes]) -> np.ndarray:
    """(len(values), longest) uint8: each value's bytes, then NULs (which no COPY text contains)."""
    width = max((len(value) for value in values), default=1)
    return np.frombuffer(b"".join(value.ljust(width, b"\0") for value in values), dtype=np.uint8).reshape(
        len(values), width
    )


def _write_rebuilding_indexes(
    writer: _ChunkWriter, chunks: list[range], account: Callable, progress: ProgressCallback | None
) -> bool:
    """Write ``chunks`` in one transaction with the rating table's secondary indexes dropped, then
    rebuilt; False, nothing written, when the role may not drop them."""
    with transaction.atomic(), connection.cursor() as cursor:
        dropped = _rating_indexes_drop(cursor)
        if dropped is None:
            return False
        # Nothing to keep in order without the B-trees: each user's ratings stay together.
        writer.title_order = False
        for chunk in chunks:
            account(chunk, *writer.write(chunk))
        if progress:
            progress(writer.users, writer.users, "rebuilding the rating table's indexes")
        _rating_indexes_restore(cursor, dropped)
    return True


def _rebuild_worthwhile(*, ratings: int) -> bool:
    """Are ``ratings`` at least as many as the rating table holds? Then one sorted build of each
    index after the load costs less than keeping them up to date row by row. Counted up to that
    many rows only, and not at all when the planner's estimate is ten times as many: a site with
    200 million ratings is not scanned to find out. (The estimate alone can be stale: ANALYZE
    writes it even in a transaction that is rolled back.)"""
    expected = ratings
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'ratings_rating'::regclass")
        if cursor.fetchone()[0] >= 10 * expected:
            return False
        cursor.execute("SELECT count(*) FROM (SELECT 1 FROM ratings_rating LIMIT %s) AS existing", [expected])
        return cursor.fetchone()[0] < expected


# The rating table's B-trees besides its primary key (an identity: it only ever appends). Those
# backing a constraint come back as that constraint.
_RATING_INDEXES = """
    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), c.conname, pg_get_constraintdef(c.oid)
    FROM pg_index i
    LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')
    WHERE i.indrelid = 'ratings_rating'::regclass AND NOT i.indisprimary
    ORDER BY 1"""


def _rating_indexes_drop(cursor) -> list[tuple[str, str, str | None, str | None]] | None:
    """Drop the rating table's secondary indexes in this transaction (which then holds the table
    locked until it ends); (index, definition, constraint, its definition) of each, to restore.
    None, nothing dropped, when the role may not (not the table's owner)."""
    cursor.execute("SAVEPOINT synthetic_indexes")
    try:
        cursor.execute("LOCK TABLE ratings_rating IN ACCESS EXCLUSIVE MODE")
        cursor.execute(_RATING_INDEXES)
        indexes = cursor.fetchall()
        for index, _definition, constraint, _constraint_definition in indexes:
            if constraint:
                cursor.execute(f"ALTER TABLE ratings_rating DROP CONSTRAINT {connection.ops.quote_name(constraint)}")
            else:
                cursor.execute(f"DROP INDEX {index}")
    except DatabaseError:  # must be owner: back to the savepoint, the chunked writing keeps them
        cursor.execute("ROLLBACK TO SAVEPOINT synthetic_indexes")
        return None
    cursor.execute("RELEASE SAVEPOINT synthetic_indexes")
    return indexes


def _rating_indexes_restore(cursor, indexes: list[tuple[str, str, str | None, str | None]]) -> None:
    """Build the dropped indexes again, exactly as they were; a unique constraint is checked as it is built."""
    # Row triggers that ran (a role that may not skip them) left deferred foreign-key checks, and
    # no index can be built over pending trigger events: check them now, then defer them again.
    cursor.execute("SELECT conname FROM pg_constraint WHERE conrelid = 'ratings_rating'::regclass AND condeferred")
    deferred = ", ".join(connection.ops.quote_name(name) for (name,) in cursor.fetchall())
    if deferred:
        cursor.execute(f"SET CONSTRAINTS {deferred} IMMEDIATE")
        cursor.execute(f"SET CONSTRAINTS {deferred} DEFERRED")
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the sort of 4 million keys in memory
    for _index, definition, constraint, constraint_definition in indexes:
        if constraint:
            cursor.execute(
                f"ALTER TABLE ratings_rating ADD CONSTRAINT {connection.ops.quote_name(constraint)} "
                f"{constraint_definition}"
            )
        else:
            cursor.execute(definition)
