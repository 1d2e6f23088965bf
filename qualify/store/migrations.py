"""Append-only schema migrations, recorded in the database and applied on first use.

Never edit a migration once it has been released: add a new one. Each is applied in its own
transaction together with its record, so a database is always at a named version, and a
database made by an older ``qualify`` is brought forward the first time a newer one opens it.
"""

from __future__ import annotations

from collections.abc import Callable

from qualify.errors import NewerStoreError, NotAStoreError, NotFoundError, StoreVersionError
from qualify.store.database import Database

Migration = Callable[[Database], None]


def m001_initial(database: Database) -> None:
    database.run_ddl(
        """CREATE TABLE runs (
            id {PK},
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            icp TEXT NOT NULL,
            status TEXT NOT NULL,
            total INTEGER NOT NULL,
            completed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            qualified INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            backoff {DOUBLE} NOT NULL,
            created_at {DOUBLE} NOT NULL,
            updated_at {DOUBLE} NOT NULL,
            finished_at {DOUBLE}
        )""",
        "CREATE INDEX runs_status ON runs (status)",
        """CREATE TABLE jobs (
            id {PK},
            run_id {BIGINT} NOT NULL REFERENCES runs (id),
            domain TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_expires_at {DOUBLE},
            next_attempt_at {DOUBLE},
            error_code TEXT,
            error TEXT,
            started_at {DOUBLE},
            finished_at {DOUBLE},
            updated_at {DOUBLE}
        )""",
        "CREATE UNIQUE INDEX jobs_run_domain ON jobs (run_id, domain)",
        # Partial indexes stay small (only jobs in flight or waiting), so inserting a million
        # queued jobs does not pay for them.
        "CREATE INDEX jobs_queued ON jobs (updated_at) WHERE state = 'queued'",
        "CREATE INDEX jobs_running ON jobs (lease_expires_at) WHERE state = 'running'",
        "CREATE INDEX jobs_waiting ON jobs (next_attempt_at) WHERE state = 'waiting'",
        "CREATE INDEX jobs_failed ON jobs (finished_at) WHERE state = 'failed'",
        """CREATE TABLE results (
            id {PK},
            job_id {BIGINT} NOT NULL UNIQUE REFERENCES jobs (id),
            run_id {BIGINT} NOT NULL REFERENCES runs (id),
            verdict TEXT NOT NULL,
            score {DOUBLE},
            reasons TEXT NOT NULL,
            evidence TEXT NOT NULL,
            extra TEXT NOT NULL,
            worker_id TEXT,
            created_at {DOUBLE} NOT NULL
        )""",
        "CREATE INDEX results_run_verdict ON results (run_id, verdict)",
        """CREATE TABLE workers (
            id TEXT PRIMARY KEY,
            hostname TEXT NOT NULL,
            pid INTEGER NOT NULL,
            concurrency INTEGER NOT NULL,
            lease {DOUBLE} NOT NULL,
            version TEXT NOT NULL,
            started_at {DOUBLE} NOT NULL,
            heartbeat_at {DOUBLE} NOT NULL,
            stopped_at {DOUBLE},
            in_flight INTEGER NOT NULL DEFAULT 0,
            processed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0
        )""",
    )


def m002_run_lease_indexes(database: Database) -> None:
    # Whether a run is stuck asks "does this run have a live lease, or a retry due soon?"
    # for every run that `status` lists. Without these, each answer walks all of the run's
    # jobs (jobs_run_domain); with them it reads only the run's few running or waiting jobs.
    database.run_ddl(
        "CREATE INDEX jobs_running_run ON jobs (run_id, lease_expires_at) WHERE state = 'running'",
        "CREATE INDEX jobs_waiting_run ON jobs (run_id, next_attempt_at) WHERE state = 'waiting'",
    )


def m003_unindex_queued_jobs(database: Database) -> None:
    # Indexing a million freshly queued jobs cost 0.8 s per run; the reconciler now counts
    # queued jobs from the runs' counters instead.
    database.run_ddl("DROP INDEX IF EXISTS jobs_queued")


def m004_results_by_score(database: Database) -> None:
    # `qualify ui` lists a run's results best first, a page at a time (keyset pagination on
    # score, then result id): without this index every page sorts all of the run's results.
    # Partial: results without a score (not judged) are listed by name, through
    # jobs_run_domain, and cost nothing here.
    database.run_ddl(
        "CREATE INDEX results_run_score ON results (run_id, score, id) WHERE score IS NOT NULL"
    )


def m005_page_store(database: Database) -> None:
    # Copies of fetched pages, shared by every run (qualify/store/pages.py). A page row per
    # URL (its newest copy); its document, compressed, in page_contents under its hash, so
    # a page fetched again unchanged, or two URLs that give the same document, are stored
    # once. A failure that is a fact about the site (a 404) is a page row with no content.
    database.run_ddl(
        """CREATE TABLE page_contents (
            hash TEXT PRIMARY KEY,
            body {BLOB} NOT NULL,
            raw_bytes INTEGER NOT NULL,
            stored_bytes INTEGER NOT NULL,
            created_at {DOUBLE} NOT NULL
        )""",
        """CREATE TABLE pages (
            url TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            final_url TEXT,
            status INTEGER,
            redirects TEXT,
            error_code TEXT,
            error TEXT,
            content_hash TEXT,
            fetched_at {DOUBLE} NOT NULL
        )""",
        "CREATE INDEX pages_site ON pages (site)",
        "CREATE INDEX pages_fetched_at ON pages (fetched_at)",
        "CREATE INDEX pages_content_hash ON pages (content_hash)",
    )


def m006_run_lineage_and_page_age(database: Database) -> None:
    # source_run_id: the run a rescore re-scores (NULL for a run made from a domain list).
    # max_page_age: how old a kept page may be for the run to use it instead of fetching
    # (NULL: any age, as a rescore wants; 0: always fetch). Older runs keep 30 days.
    database.run_ddl(
        "ALTER TABLE runs ADD COLUMN source_run_id {BIGINT}",
        "ALTER TABLE runs ADD COLUMN max_page_age {DOUBLE} DEFAULT 2592000",
        "CREATE INDEX runs_source ON runs (source_run_id)",
    )


def m007_job_inputs(database: Database) -> None:
    # What each job carries from its input row (the URL as written, a CRM export's columns),
    # and on the run the names of those columns. A table of its own keeps the jobs rows that
    # workers update over and over narrow.
    database.run_ddl(
        """CREATE TABLE job_inputs (
            job_id {BIGINT} PRIMARY KEY REFERENCES jobs (id),
            input TEXT NOT NULL
        )""",
        "ALTER TABLE runs ADD COLUMN inputs TEXT",
    )


def m008_unknown_counter(database: Database) -> None:
    # `status` shows how many results could not be judged without counting results: a
    # counter kept beside `qualified`, in the same transactions. Runs made before it are
    # counted once, here.
    database.run_ddl(
        "ALTER TABLE runs ADD COLUMN unknown INTEGER NOT NULL DEFAULT 0",
        """UPDATE runs SET unknown = (SELECT COUNT(*) FROM results
                                      WHERE results.run_id = runs.id
                                        AND results.verdict = 'unknown')""",
    )


def m009_worker_pause(database: Database) -> None:
    # A worker paused for an outage says so on its row, for `status` on any machine.
    database.run_ddl(
        "ALTER TABLE workers ADD COLUMN paused_reason TEXT",
        "ALTER TABLE workers ADD COLUMN paused_at {DOUBLE}",
        "ALTER TABLE workers ADD COLUMN next_probe_at {DOUBLE}",
    )


def m010_result_history(database: Database) -> None:
    # `qualify retry` runs finished jobs again; how they had ended is kept here, not deleted.
    database.run_ddl(
        """CREATE TABLE result_history (
            id {PK},
            job_id {BIGINT} NOT NULL REFERENCES jobs (id),
            run_id {BIGINT} NOT NULL REFERENCES runs (id),
            state TEXT NOT NULL,
            verdict TEXT,
            score {DOUBLE},
            reasons TEXT,
            evidence TEXT,
            extra TEXT,
            worker_id TEXT,
            error_code TEXT,
            error TEXT,
            attempts INTEGER NOT NULL,
            finished_at {DOUBLE},
            replaced_at {DOUBLE} NOT NULL
        )""",
        "CREATE INDEX result_history_job ON result_history (job_id)",
    )


def m011_queue_tables(database: Database) -> None:
    # huey's tables for the queue in the store's database, created here under the migration
    # lock: huey created them itself on every start, outside any lock, so processes starting
    # at once on a fresh PostgreSQL database raced on them, and its CREATE INDEX IF NOT
    # EXISTS waited behind any open transaction. The same columns and index names huey
    # gives them (stores that already have them keep theirs).
    database.run_ddl(
        'CREATE TABLE IF NOT EXISTS "huey_kv" ("queue" VARCHAR(255) NOT NULL,'
        ' "key" VARCHAR(255) NOT NULL, "value" {BLOB} NOT NULL, PRIMARY KEY ("queue", "key"))',
        'CREATE TABLE IF NOT EXISTS "huey_schedule" ("id" {SERIAL},'
        ' "queue" VARCHAR(255) NOT NULL, "data" {BLOB} NOT NULL, "timestamp" {BIGINT} NOT NULL)',
        'CREATE INDEX IF NOT EXISTS "schedule_queue_timestamp"'
        ' ON "huey_schedule" ("queue", "timestamp")',
        'CREATE TABLE IF NOT EXISTS "huey_task" ("id" {SERIAL},'
        ' "queue" VARCHAR(255) NOT NULL, "data" {BLOB} NOT NULL, "priority" REAL NOT NULL)',
        'CREATE INDEX IF NOT EXISTS "task_priority_id" ON "huey_task" ("priority" DESC, "id")',
        'CREATE TABLE IF NOT EXISTS "huey_counter" ("queue" VARCHAR(255) NOT NULL,'
        ' "key" VARCHAR(255) NOT NULL, "value" INTEGER NOT NULL, PRIMARY KEY ("queue", "key"))',
    )


def m012_claim_numbers(database: Database) -> None:
    # claims: how many times the job was claimed, never decremented (attempts is: a job
    # handed back does not use up an attempt), so (id, claims) fences a worker's changes
    # even when the same worker claims the same job again. recorded_by: the worker that
    # recorded the job's last outcome (a result's own worker_id stays on the result).
    database.run_ddl(
        "ALTER TABLE jobs ADD COLUMN claims INTEGER NOT NULL DEFAULT 0",
        "UPDATE jobs SET claims = attempts",
        "ALTER TABLE jobs ADD COLUMN recorded_by TEXT",
    )


def m013_llm_cache(database: Database) -> None:
    # The llm qualifier never pays twice: each model verdict under its cache key (model,
    # prompt version, canonical ICP, page hashes). And each run's token account: its model
    # (never the key), its budget, what it spent, the user's prices.
    database.run_ddl(
        """CREATE TABLE llm_verdicts (
            cache_key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            answer TEXT NOT NULL,
            prompt_tokens {BIGINT} NOT NULL,
            completion_tokens {BIGINT} NOT NULL,
            created_at {DOUBLE} NOT NULL
        )""",
        """CREATE TABLE llm_accounts (
            run_id {BIGINT} PRIMARY KEY REFERENCES runs (id),
            model TEXT,
            max_tokens {BIGINT},
            prompt_tokens {BIGINT} NOT NULL DEFAULT 0,
            completion_tokens {BIGINT} NOT NULL DEFAULT 0,
            calls {BIGINT} NOT NULL DEFAULT 0,
            cache_hits {BIGINT} NOT NULL DEFAULT 0,
            price_in {DOUBLE},
            price_out {DOUBLE}
        )""",
    )


def m014_run_counters(database: Database) -> None:
    # Every worker round used to update its run's row (counters, updated_at): on PostgreSQL
    # all workers' transactions then queued on that one row lock. Each worker now adds to its
    # own shard row of the run (summed on read, a few rows a run); the run row keeps the base
    # that operator actions (cancel, retry, give up) change. No foreign key: a per-row check
    # locks the run row (KEY SHARE) on every insert, and runs are never deleted.
    database.run_ddl(
        """CREATE TABLE run_counters (
            run_id {BIGINT} NOT NULL,
            shard INTEGER NOT NULL,
            completed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            qualified INTEGER NOT NULL DEFAULT 0,
            unknown INTEGER NOT NULL DEFAULT 0,
            updated_at {DOUBLE} NOT NULL,
            PRIMARY KEY (run_id, shard)
        )""",
    )


def m015_statement_level_integrity(database: Database) -> None:
    # A foreign key checks each inserted row on its own and locks its parent row (KEY SHARE):
    # 3.3 of the server's 5 CPU seconds for a million jobs' COPY, and every worker round's
    # results locked the one run row all workers share. One anti-join per statement keeps
    # the guarantee for inserts (tests/bench/bench_integrity.py).
    # SQLite runs with foreign_keys off: nothing to replace there.
    # Not covered, as a foreign key would be: a parent deleted while a transaction that
    # inserts its child is still open (qualify never deletes runs or jobs), and TRUNCATE.
    if database.dialect != "postgres":
        return
    references = (  # (child table, column, parent table)
        ("jobs", "run_id", "runs"),
        ("results", "job_id", "jobs"),
        ("results", "run_id", "runs"),
        ("job_inputs", "job_id", "jobs"),
        ("result_history", "job_id", "jobs"),
        ("result_history", "run_id", "runs"),
        ("llm_accounts", "run_id", "runs"),
    )
    database.run_ddl(
        """DO $$
        DECLARE c record;
        BEGIN
            FOR c IN SELECT conrelid::regclass AS tab, conname FROM pg_constraint
                     WHERE contype = 'f' AND confrelid IN ('runs'::regclass, 'jobs'::regclass)
                       AND conrelid::regclass::text IN ('jobs', 'results', 'job_inputs',
                                                        'result_history', 'llm_accounts')
            LOOP
                EXECUTE 'ALTER TABLE ' || c.tab || ' DROP CONSTRAINT ' || quote_ident(c.conname);
            END LOOP;
        END $$""",
        # Statement level, with the statement's rows as a table (COPY fires it too).
        # TG_ARGV: the column and its parent table. A NULL column passes, as with a key.
        # min(), not LIMIT 1: LIMIT makes the planner probe the parent's index once per row
        # (0.45 s for a million jobs) where a hash anti-join takes 0.1 s.
        """CREATE FUNCTION qualify_check_parents() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE missing bigint;
        BEGIN
            EXECUTE 'SELECT min(n.' || quote_ident(TG_ARGV[0]) || ') FROM new_rows n'
                || ' WHERE NOT EXISTS (SELECT 1 FROM ' || quote_ident(TG_ARGV[1])
                || ' p WHERE p.id = n.' || quote_ident(TG_ARGV[0]) || ')' INTO missing;
            IF missing IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0],
                    MESSAGE = TG_OP || ' on table ' || TG_TABLE_NAME || ': ' || TG_ARGV[0]
                        || ' ' || missing || ' is not in ' || TG_ARGV[1];
            END IF;
            RETURN NULL;
        END $$""",
        # No statement changes these columns. A statement-level UPDATE trigger with its
        # rows as a table cannot name columns, so it would fire on every jobs update of
        # every worker round: a row trigger on the column alone costs nothing until then.
        """CREATE FUNCTION qualify_check_parent() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE parent bigint := to_jsonb(NEW) ->> TG_ARGV[0];
                present boolean;
        BEGIN
            EXECUTE 'SELECT EXISTS (SELECT 1 FROM ' || quote_ident(TG_ARGV[1])
                || ' WHERE id = $1)' INTO present USING parent;
            IF parent IS NOT NULL AND NOT present THEN
                RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                    TABLE = TG_TABLE_NAME, COLUMN = TG_ARGV[0],
                    MESSAGE = TG_OP || ' on table ' || TG_TABLE_NAME || ': ' || TG_ARGV[0]
                        || ' ' || parent || ' is not in ' || TG_ARGV[1];
            END IF;
            RETURN NULL;
        END $$""",
        # The parent side: a referenced run or job is never deleted, nor its id changed.
        # Per row, on statements qualify never runs. TG_ARGV: (child table, column) pairs.
        """CREATE FUNCTION qualify_refuse_orphans() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE i integer := 0;
                referenced boolean;
        BEGIN
            WHILE i < TG_NARGS LOOP
                EXECUTE 'SELECT EXISTS (SELECT 1 FROM ' || quote_ident(TG_ARGV[i])
                    || ' WHERE ' || quote_ident(TG_ARGV[i + 1]) || ' = $1)'
                    INTO referenced USING OLD.id;
                IF referenced THEN
                    RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
                        TABLE = TG_TABLE_NAME,
                        MESSAGE = TG_OP || ' on table ' || TG_TABLE_NAME || ': id ' || OLD.id
                            || ' is still referenced from ' || TG_ARGV[i];
                END IF;
                i := i + 2;
            END LOOP;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END $$""",
    )
    for table, column, parent in references:
        name = f"{table}_{column}_parent"
        database.run_ddl(
            f"CREATE TRIGGER {name} AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows"
            f" FOR EACH STATEMENT EXECUTE FUNCTION qualify_check_parents('{column}', '{parent}')",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column} ON {table} FOR EACH ROW"
            f" WHEN (NEW.{column} IS DISTINCT FROM OLD.{column})"
            f" EXECUTE FUNCTION qualify_check_parent('{column}', '{parent}')",
        )
    for parent in ("runs", "jobs"):
        children = ", ".join(
            f"'{table}', '{column}'" for table, column, of in references if of == parent
        )
        database.run_ddl(
            f"CREATE TRIGGER {parent}_referenced_delete BEFORE DELETE ON {parent} FOR EACH ROW"
            f" EXECUTE FUNCTION qualify_refuse_orphans({children})",
            f"CREATE TRIGGER {parent}_referenced_update BEFORE UPDATE OF id ON {parent}"
            f" FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id)"
            f" EXECUTE FUNCTION qualify_refuse_orphans({children})",
        )


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_run_lease_indexes,
    m003_unindex_queued_jobs,
    m004_results_by_score,
    m005_page_store,
    m006_run_lineage_and_page_age,
    m007_job_inputs,
    m008_unknown_counter,
    m009_worker_pause,
    m010_result_history,
    m011_queue_tables,
    m012_claim_numbers,
    m013_llm_cache,
    m014_run_counters,
    m015_statement_level_integrity,
]


def migrate(database: Database) -> list[str]:
    """Apply the migrations this database lacks, in one transaction; return their names.
    A database written by a newer qualify is refused (:class:`NewerStoreError`), never
    written."""
    if _known(database, _applied(database)):
        return []
    done = []
    with database.write():
        database.execute("unbounded_lock_wait")  # DDL may wait for its locks: it is rare
        database.execute("lock_migrations")
        database.execute("create_migrations_table")
        applied = _applied(database)
        _known(database, applied)
        for migration in MIGRATIONS:
            if migration.__name__ in applied:
                continue
            migration(database)
            database.execute("record_migration", {"name": migration.__name__})
            done.append(migration.__name__)
    return done


def check_readable(database: Database, *, foreign_ok: bool = False) -> None:
    """Before anything reads or writes: refuse what is not a qualify store of this version.

    A database with tables but no migration record is another program's (unless
    ``foreign_ok``: a PostgreSQL database may hold other applications' tables beside a new
    store); one with migrations this code does not know was written by a newer qualify."""
    if not database.has_table("qualify_migrations"):
        tables = database.table_names()
        if tables and not foreign_ok:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            raise NotAStoreError(f"{database.display_url}: not a qualify store (tables: {shown})")
        return
    _known(database, _applied(database))


def check_current(database: Database) -> None:
    """For read-only commands, which never migrate: the store must be at this version."""
    applied = _applied(database)
    if not applied:
        raise NotFoundError(
            f"{database.display_url}: no qualify store here yet (`qualify run` creates it)"
        )
    if _known(database, applied):
        return
    missing = [m.__name__ for m in MIGRATIONS if m.__name__ not in applied]
    raise StoreVersionError(
        f"{database.display_url} was written by an older qualify (lacks {missing[0]}); a"
        " writing command (`qualify run`, `qualify worker`) upgrades it"
    )


def _known(database: Database, applied: set[str]) -> bool:
    """True when ``applied`` is every migration; raises if one is unknown to this code."""
    known = {m.__name__ for m in MIGRATIONS}
    newer = sorted(applied - known)
    if newer:
        raise NewerStoreError(database.display_url, newer[-1])
    return applied >= known


def _applied(database: Database) -> set[str]:
    if not database.has_table("qualify_migrations"):
        return set()
    return {row["name"] for row in database.rows("applied_migrations")}
