-- The store's queries for SQLite, by name (see qualify/store/sql/__init__.py).
--
-- Parameters are named (:name). Lists travel as one JSON array parameter, read with
-- json_each, so every query has one fixed text whatever the list's length. Times are
-- seconds since the epoch from the database's own clock, never a worker's, so hosts with
-- skewed clocks agree on when a lease expires:
--     ((julianday('now') - 2440587.5) * 86400.0)
-- postgres.sql holds the same queries, by the same names, in PostgreSQL's dialect.

-- now --
SELECT ((julianday('now') - 2440587.5) * 86400.0) AS now;

-- ## migrations

-- create_migrations_table --
CREATE TABLE IF NOT EXISTS qualify_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL);

-- unbounded_lock_wait --
-- Nothing to bound on SQLite (see postgres.sql).
SELECT 1;

-- lock_migrations --
-- Nothing to do: migrations run in a BEGIN IMMEDIATE transaction, which already keeps
-- every other writer out.
SELECT 1;

-- applied_migrations --
SELECT name FROM qualify_migrations;

-- record_migration --
INSERT INTO qualify_migrations (name, applied_at)
VALUES (:name, ((julianday('now') - 2440587.5) * 86400.0));

-- ## runs

-- insert_run --
INSERT INTO runs (name, qualifier, icp, status, total, max_attempts, backoff, source_run_id,
                  max_page_age, inputs, created_at, updated_at)
VALUES (:name, :qualifier, :icp, 'PENDING', :total, :max_attempts, :backoff,
        :source_run_id, :max_page_age, :inputs, ((julianday('now') - 2440587.5) * 86400.0), ((julianday('now') - 2440587.5) * 86400.0))
RETURNING id;

-- list_runs --
-- The newest runs; with :run_id, only that one; with :finished_within, only the
-- active ones and those that finished that recently (the live dashboard). A run is stuck
-- when it has unfinished jobs and nothing has moved for :stuck_after seconds: no job
-- changed state, no lease is live, and no retry is due soon (DESIGN.md, "What stuck means").
-- With :stuck_after NULL, stuck is 0 and nothing else is read. (The runs table is small:
-- one row a run.)
SELECT id, name, status, total,
       completed + (SELECT COALESCE(SUM(c.completed), 0) FROM run_counters c WHERE c.run_id = runs.id) AS completed,
       failed + (SELECT COALESCE(SUM(c.failed), 0) FROM run_counters c WHERE c.run_id = runs.id) AS failed,
       qualified + (SELECT COALESCE(SUM(c.qualified), 0) FROM run_counters c WHERE c.run_id = runs.id) AS qualified,
       unknown + (SELECT COALESCE(SUM(c.unknown), 0) FROM run_counters c WHERE c.run_id = runs.id) AS unknown,
       cancelled, qualifier, max_attempts, backoff, created_at,
       MAX(updated_at, COALESCE((SELECT MAX(c.updated_at) FROM run_counters c
                                         WHERE c.run_id = runs.id), updated_at)) AS updated_at,
       finished_at, source_run_id, max_page_age,
       CASE WHEN :stuck_after IS NOT NULL
                 AND status IN ('PENDING', 'PROCESSING')
                 AND updated_at < ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after
                 AND NOT EXISTS (SELECT 1 FROM run_counters c WHERE c.run_id = runs.id
                                 AND c.updated_at >= ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after)
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                                 AND jobs.state = 'running'
                                 AND jobs.lease_expires_at >= ((julianday('now') - 2440587.5) * 86400.0))
                 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                                 AND jobs.state = 'waiting'
                                 AND jobs.next_attempt_at > ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after)
            THEN 1 ELSE 0 END AS stuck
FROM runs
WHERE (:run_id IS NULL OR id = :run_id)
  AND (:finished_within IS NULL
   OR status IN ('PENDING', 'PROCESSING')
   OR finished_at >= ((julianday('now') - 2440587.5) * 86400.0) - :finished_within)
ORDER BY id DESC LIMIT :limit;

-- stuck_runs --
-- Every stuck run, oldest first (stuck as in list_runs).
SELECT id, name, status, total,
       completed + (SELECT COALESCE(SUM(c.completed), 0) FROM run_counters c WHERE c.run_id = runs.id) AS completed,
       failed + (SELECT COALESCE(SUM(c.failed), 0) FROM run_counters c WHERE c.run_id = runs.id) AS failed,
       qualified + (SELECT COALESCE(SUM(c.qualified), 0) FROM run_counters c WHERE c.run_id = runs.id) AS qualified,
       unknown + (SELECT COALESCE(SUM(c.unknown), 0) FROM run_counters c WHERE c.run_id = runs.id) AS unknown,
       cancelled, qualifier, max_attempts, backoff, created_at,
       MAX(updated_at, COALESCE((SELECT MAX(c.updated_at) FROM run_counters c
                                         WHERE c.run_id = runs.id), updated_at)) AS updated_at,
       finished_at, source_run_id, max_page_age, 1 AS stuck
FROM runs
WHERE status IN ('PENDING', 'PROCESSING')
  AND updated_at < ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after
  AND NOT EXISTS (SELECT 1 FROM run_counters c WHERE c.run_id = runs.id
                  AND c.updated_at >= ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after)
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                  AND jobs.state = 'running'
                  AND jobs.lease_expires_at >= ((julianday('now') - 2440587.5) * 86400.0))
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.run_id = runs.id
                  AND jobs.state = 'waiting'
                  AND jobs.next_attempt_at > ((julianday('now') - 2440587.5) * 86400.0) - :stuck_after)
ORDER BY id;

-- run_plan --
SELECT id, qualifier, icp, max_attempts, backoff, max_page_age, source_run_id FROM runs
WHERE id = :run_id;

-- count_jobs_by_state --
SELECT state, COUNT(*) AS count FROM jobs WHERE run_id = :run_id GROUP BY state;

-- count_running_and_waiting --
-- A run's running and waiting jobs, read from jobs_running_run and jobs_waiting_run.
SELECT 'running' AS state, COUNT(*) AS count FROM jobs WHERE run_id = :run_id AND state = 'running'
UNION ALL
SELECT 'waiting' AS state, COUNT(*) AS count FROM jobs WHERE run_id = :run_id AND state = 'waiting';

-- count_verdicts --
-- Read from the results_run_verdict index alone.
SELECT verdict, COUNT(*) AS count FROM results WHERE run_id = :run_id GROUP BY verdict;

-- count_failures --
SELECT COALESCE(error_code, 'unknown_error') AS code, COUNT(*) AS count
FROM jobs WHERE run_id = :run_id AND state = 'failed'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit;

-- count_unknown_codes --
-- The codes qualifiers gave with their `unknown` verdicts (the web qualifier's: why a site
-- could not be judged), most common first. Reads the run's unknown results only.
SELECT COALESCE(json_extract(extra, '$.error'), 'unspecified') AS code, COUNT(*) AS count
FROM results WHERE run_id = :run_id AND verdict = 'unknown'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT :limit;

-- run_inputs --
-- What the run's jobs carry from their input rows: format, columns, the websites' column.
SELECT inputs FROM runs WHERE id = :run_id;

-- count_expired_leases --
-- A run's running jobs whose lease expired, and how many of them used up their attempts:
-- what reclaiming them would requeue and fail (recover --dry-run), read only.
SELECT COUNT(*) AS expired,
       COALESCE(SUM(CASE WHEN j.attempts >= r.max_attempts THEN 1 ELSE 0 END), 0) AS exhausted
FROM jobs j JOIN runs r ON r.id = j.run_id
WHERE j.run_id = :run_id AND j.state = 'running' AND j.lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0);

-- count_live_leases --
SELECT COUNT(*) AS count FROM jobs
WHERE run_id = :run_id AND state = 'running'
  AND lease_expires_at >= ((julianday('now') - 2440587.5) * 86400.0);

-- records_of_run --
-- Every job of a run in input order, with its result.
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error,
       j.next_attempt_at, j.lease_owner, j.lease_expires_at, j.finished_at,
       r.verdict, r.score, r.reasons, r.evidence, r.extra, i.input,
       COALESCE(r.worker_id, j.recorded_by) AS recorded_by
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
     LEFT JOIN job_inputs i ON i.job_id = j.id
WHERE j.run_id = :run_id ORDER BY j.id;

-- record_of_domain --
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error,
       j.next_attempt_at, j.lease_owner, j.lease_expires_at, j.finished_at,
       r.verdict, r.score, r.reasons, r.evidence, r.extra, i.input,
       COALESCE(r.worker_id, j.recorded_by) AS recorded_by
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
     LEFT JOIN job_inputs i ON i.job_id = j.id
WHERE j.run_id = :run_id AND j.domain = :domain;

-- records_by_verdict --
-- Jobs whose result has one of :verdicts (a JSON array), and with :include_failed the
-- jobs that failed (which have no result).
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error,
       j.next_attempt_at, j.lease_owner, j.lease_expires_at, j.finished_at,
       r.verdict, r.score, r.reasons, r.evidence, r.extra, i.input,
       COALESCE(r.worker_id, j.recorded_by) AS recorded_by
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
     LEFT JOIN job_inputs i ON i.job_id = j.id
WHERE j.run_id = :run_id
  AND ((:include_failed AND j.state = 'failed')
       OR r.verdict IN (SELECT value FROM json_each(:verdicts)))
ORDER BY j.id;

-- records_of_domains --
-- The jobs of a run for the domains in :domains (a JSON array), with their results
-- (read through jobs_run_domain: a few labelled domains never walk a million jobs).
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error,
       j.next_attempt_at, j.lease_owner, j.lease_expires_at, j.finished_at,
       r.verdict, r.score, r.reasons, r.evidence, r.extra, i.input,
       COALESCE(r.worker_id, j.recorded_by) AS recorded_by
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
     LEFT JOIN job_inputs i ON i.job_id = j.id
WHERE j.run_id = :run_id AND j.domain IN (SELECT value FROM json_each(:domains))
ORDER BY j.id;

-- changed_verdicts --
-- Every domain of run :run_a whose outcome differs in run :run_b (a verdict, or the
-- job's state when it has no result; NULL when the domain is not in :run_b), with
-- :run_b's record in full and :run_a's verdict, score and reasons. In :run_a's order.
SELECT jb.id AS job_id, ja.domain, jb.state, jb.attempts, jb.error_code, jb.error,
       jb.next_attempt_at, jb.lease_owner, jb.lease_expires_at, jb.finished_at,
       rb.verdict, rb.score, rb.reasons, rb.evidence, rb.extra, ib.input,
       COALESCE(rb.worker_id, jb.recorded_by) AS recorded_by,
       COALESCE(ra.verdict, ja.state) AS outcome_a, ra.score AS score_a,
       ra.reasons AS reasons_a, COALESCE(rb.verdict, jb.state) AS outcome_b
FROM jobs ja
LEFT JOIN results ra ON ra.job_id = ja.id
LEFT JOIN jobs jb ON jb.run_id = :run_b AND jb.domain = ja.domain
LEFT JOIN results rb ON rb.job_id = jb.id
LEFT JOIN job_inputs ib ON ib.job_id = jb.id
WHERE ja.run_id = :run_a
  AND COALESCE(ra.verdict, ja.state) IS NOT COALESCE(rb.verdict, jb.state)
ORDER BY ja.id;

-- domains_only_in_second_run --
-- Jobs of run :run_b whose domain run :run_a does not have, with their results.
SELECT jb.id AS job_id, jb.domain, jb.state, jb.attempts, jb.error_code, jb.error,
       jb.next_attempt_at, jb.lease_owner, jb.lease_expires_at, jb.finished_at,
       rb.verdict, rb.score, rb.reasons, rb.evidence, rb.extra, ib.input,
       COALESCE(rb.worker_id, jb.recorded_by) AS recorded_by
FROM jobs jb LEFT JOIN results rb ON rb.job_id = jb.id
     LEFT JOIN job_inputs ib ON ib.job_id = jb.id
WHERE jb.run_id = :run_b
  AND NOT EXISTS (SELECT 1 FROM jobs ja WHERE ja.run_id = :run_a AND ja.domain = jb.domain)
ORDER BY jb.id;

-- ## creating a run's jobs

-- insert_jobs --
-- Many rows at once (columns: run_id, domain, state, updated_at).
INSERT INTO jobs (run_id, domain, state, updated_at) VALUES (?, ?, ?, ?);

-- insert_job_inputs --
-- Many rows at once (columns: job_id, input): what each job carries from its input row.
INSERT INTO job_inputs (job_id, input) VALUES (?, ?);

-- max_job_id --
-- The newest job's id before a run inserts its own (which all come after it).
SELECT COALESCE(MAX(id), 0) AS id FROM jobs;

-- run_job_ids --
-- A run's job ids in the order they were inserted (the order of its domain list); :after
-- is max_job_id from before the insert, so only the run's own rows are read.
SELECT id FROM jobs WHERE run_id = :run_id AND id > :after ORDER BY id;

-- enqueue_run_jobs --
-- With the queue in this database: a message for every queued job of a run, in the same
-- transaction that created them (huey's task table; the payload as qualify.queue encodes it).
INSERT INTO huey_task (queue, data, priority)
SELECT :queue, CAST(:prefix || id AS BLOB), 0
FROM jobs WHERE run_id = :run_id AND state = 'queued' ORDER BY id;

-- queued_jobs_of_run --
SELECT id FROM jobs WHERE run_id = :run_id AND state = 'queued' ORDER BY id;

-- insert_jobs_from_run --
-- A rescore's jobs: every domain of the source run, in its order, queued.
INSERT INTO jobs (run_id, domain, state, updated_at)
SELECT :run_id, domain, 'queued', ((julianday('now') - 2440587.5) * 86400.0)
FROM jobs WHERE run_id = :source_run_id ORDER BY id;

-- copy_job_inputs_from_run --
-- A rescore's jobs carry the input rows of the source run's jobs for the same domains.
INSERT INTO job_inputs (job_id, input)
SELECT nj.id, ji.input
FROM jobs nj
JOIN jobs oj ON oj.run_id = :source_run_id AND oj.domain = nj.domain
JOIN job_inputs ji ON ji.job_id = oj.id
WHERE nj.run_id = :run_id;

-- count_domains_with_pages --
-- How many of a run's domains have pages in the page store (read through pages_site).
SELECT COUNT(*) AS count FROM jobs j
WHERE j.run_id = :run_id AND EXISTS (SELECT 1 FROM pages p WHERE p.site = j.domain);

-- ## the worker's path

-- claim_jobs --
-- Atomic: only jobs still queued are taken; a stale or duplicate message claims nothing.
UPDATE jobs SET state = 'running', lease_owner = :owner,
       lease_expires_at = ((julianday('now') - 2440587.5) * 86400.0) + :lease,
       attempts = attempts + 1, claims = claims + 1, recorded_by = NULL,
       started_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'queued'
RETURNING id, run_id, domain, attempts, claims, error_code;

-- mark_run_started --
-- A PENDING run becomes PROCESSING; `started` is true once it is no longer PENDING (a process
-- asks once per run). One writer at a time: nothing to skip, as the PostgreSQL text does.
UPDATE runs SET
       updated_at = CASE WHEN status = 'PENDING'
                         THEN ((julianday('now') - 2440587.5) * 86400.0) ELSE updated_at END,
       status = CASE WHEN status = 'PENDING' THEN 'PROCESSING' ELSE status END
WHERE id = :run_id
RETURNING 1 AS started;

-- renew_leases --
UPDATE jobs SET lease_expires_at = ((julianday('now') - 2440587.5) * 86400.0) + :lease
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'running' AND lease_owner = :owner
RETURNING id;

-- finish_jobs_done --
-- Fenced: :fences is a JSON object {job id: claim number} of jobs leased to :owner; a job
-- applies only while that lease still holds.
UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL, recorded_by = :owner,
       error_code = NULL, error = NULL,
       finished_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'running' AND lease_owner = :owner
  AND (id, claims) IN (SELECT CAST(key AS INTEGER), value FROM json_each(:fences))
RETURNING id;

-- insert_results --
-- Many rows at once (columns: job_id, run_id, verdict, score, reasons, evidence, extra,
-- worker_id), created now.
INSERT INTO results (job_id, run_id, verdict, score, reasons, evidence, extra, worker_id,
                     created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ((julianday('now') - 2440587.5) * 86400.0));

-- retry_jobs --
-- Transient failures: each job waits its delay, then is queued again. Fenced as
-- finish_jobs_done: :outcomes is a JSON array of {id, claim, delay, code, message} of jobs
-- leased to :owner; a job changes only while that lease still holds. One statement for a
-- round's failures, however many.
UPDATE jobs SET state = 'waiting', lease_owner = NULL, lease_expires_at = NULL,
       recorded_by = :owner,
       next_attempt_at = ((julianday('now') - 2440587.5) * 86400.0) + o.delay,
       error_code = o.code, error = o.message,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
FROM (SELECT value ->> 'id' AS id, value ->> 'claim' AS claim, value ->> 'delay' AS delay,
             value ->> 'code' AS code, value ->> 'message' AS message
      FROM json_each(:outcomes)) AS o
WHERE jobs.id = o.id AND jobs.claims = o.claim AND jobs.state = 'running'
  AND jobs.lease_owner = :owner
RETURNING jobs.id;

-- fail_jobs --
-- Permanent failures, or attempts used up; fenced and batched as retry_jobs (the delays are
-- not read).
UPDATE jobs SET state = 'failed', lease_owner = NULL, lease_expires_at = NULL,
       recorded_by = :owner, error_code = o.code, error = o.message,
       finished_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
FROM (SELECT value ->> 'id' AS id, value ->> 'claim' AS claim, value ->> 'code' AS code,
             value ->> 'message' AS message
      FROM json_each(:outcomes)) AS o
WHERE jobs.id = o.id AND jobs.claims = o.claim AND jobs.state = 'running'
  AND jobs.lease_owner = :owner
RETURNING jobs.id;

-- count_finished_jobs --
-- Adds to this worker's shard of the run's counters (run_counters), in the transaction that
-- finished the jobs: workers on other shards never wait for this row, and the run row is
-- not touched (finish_done_runs completes the run).
INSERT INTO run_counters (run_id, shard, completed, failed, qualified, unknown, updated_at)
VALUES (:run_id, :shard, :completed, :failed, :qualified, :unknown, ((julianday('now') - 2440587.5) * 86400.0))
ON CONFLICT (run_id, shard) DO UPDATE SET
    completed = run_counters.completed + excluded.completed,
    failed = run_counters.failed + excluded.failed,
    qualified = run_counters.qualified + excluded.qualified,
    unknown = run_counters.unknown + excluded.unknown,
    updated_at = excluded.updated_at;

-- finish_done_runs --
-- Active runs (with :run_id, only that one) whose jobs have all ended are COMPLETED. Only
-- a run that is done is locked: a run still working is read, never written, so the check
-- costs no lock wait. Run after counting (in the same transaction) and by maintenance: two
-- workers that finish a run's last jobs at once may each miss the other's uncommitted count.
UPDATE runs SET status = 'COMPLETED', finished_at = ((julianday('now') - 2440587.5) * 86400.0), updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE status IN ('PENDING', 'PROCESSING')
  AND (:run_id IS NULL OR id = :run_id)
  AND completed + failed + cancelled
      + (SELECT COALESCE(SUM(c.completed + c.failed), 0) FROM run_counters c
         WHERE c.run_id = runs.id) >= total;

-- release_jobs --
-- Handed back by a worker stopping: queued again, the attempt not counted; fenced as
-- finish_jobs_done.
UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
       attempts = attempts - 1, updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'running' AND lease_owner = :owner
  AND (id, claims) IN (SELECT CAST(key AS INTEGER), value FROM json_each(:fences))
RETURNING id, run_id;

-- touch_run --
-- Activity on a run (jobs handed back or queued again), on this worker's shard: the run row
-- is not locked.
INSERT INTO run_counters (run_id, shard, updated_at) VALUES (:run_id, :shard, ((julianday('now') - 2440587.5) * 86400.0))
ON CONFLICT (run_id, shard) DO UPDATE SET updated_at = excluded.updated_at;

-- ## maintenance, run by every worker

-- any_expired_lease --
SELECT 1 FROM jobs
WHERE state = 'running' AND lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0)
LIMIT 1;

-- fail_expired_exhausted --
-- Jobs whose worker stopped renewing the lease and that have used up their attempts: a
-- poison pill must not loop forever. :run_id NULL means every run.
UPDATE jobs SET state = 'failed', error_code = 'lease_expired',
       error = 'worker ' || COALESCE(lease_owner, 'unknown')
               || ' stopped renewing its lease (died or hung) on attempt ' || attempts
               || ' of ' || (SELECT max_attempts FROM runs WHERE runs.id = jobs.run_id),
       lease_owner = NULL, lease_expires_at = NULL,
       finished_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'running' AND lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0)
  AND (:run_id IS NULL OR run_id = :run_id)
  AND attempts >= (SELECT max_attempts FROM runs WHERE runs.id = jobs.run_id)
RETURNING run_id;

-- requeue_expired --
-- The other jobs whose lease expired go back to the queue.
UPDATE jobs SET state = 'queued', error_code = 'lease_expired',
       error = 'worker ' || COALESCE(lease_owner, 'unknown')
               || ' stopped renewing its lease (died or hung) on attempt ' || attempts,
       lease_owner = NULL, lease_expires_at = NULL,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'running' AND lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0)
  AND (:run_id IS NULL OR run_id = :run_id)
RETURNING id, run_id;

-- any_due_retry --
SELECT 1 FROM jobs
WHERE state = 'waiting' AND next_attempt_at <= ((julianday('now') - 2440587.5) * 86400.0)
LIMIT 1;

-- queue_due_retries --
-- Waiting jobs whose retry time has come (with :force, all of them) are queued again.
UPDATE jobs SET state = 'queued', next_attempt_at = NULL,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'waiting'
  AND (:force OR next_attempt_at <= ((julianday('now') - 2440587.5) * 86400.0))
  AND (:run_id IS NULL OR run_id = :run_id)
RETURNING id, run_id;

-- count_unfinished_in_active_runs --
SELECT COALESCE(SUM(unfinished), 0) AS count
FROM (SELECT total - completed - failed - cancelled
             - (SELECT COALESCE(SUM(c.completed + c.failed), 0) FROM run_counters c WHERE c.run_id = runs.id) AS unfinished
      FROM runs WHERE status IN ('PENDING', 'PROCESSING')) active;

-- count_running_in_active_runs --
SELECT COUNT(*) AS count FROM jobs
WHERE state = 'running'
  AND run_id IN (SELECT id FROM runs WHERE status IN ('PENDING', 'PROCESSING'));

-- count_waiting_in_active_runs --
SELECT COUNT(*) AS count FROM jobs
WHERE state = 'waiting'
  AND run_id IN (SELECT id FROM runs WHERE status IN ('PENDING', 'PROCESSING'));

-- quiet_queued_jobs --
-- Queued jobs of active runs untouched for :grace seconds (reconciler). Queued jobs are
-- not indexed, so this reads the jobs table: it only runs when messages look lost.
SELECT id FROM jobs
WHERE state = 'queued'
  AND updated_at <= ((julianday('now') - 2440587.5) * 86400.0) - :grace
  AND run_id IN (SELECT id FROM runs WHERE status IN ('PENDING', 'PROCESSING'));

-- quiet_queued_jobs_of_run --
-- As quiet_queued_jobs, for one run (read through jobs_run_domain).
SELECT id FROM jobs
WHERE run_id = :run_id AND state = 'queued'
  AND updated_at <= ((julianday('now') - 2440587.5) * 86400.0) - :grace
  AND run_id IN (SELECT id FROM runs WHERE status IN ('PENDING', 'PROCESSING'));

-- touch_queued_jobs --
UPDATE jobs SET updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id IN (SELECT value FROM json_each(:ids)) AND state = 'queued'
RETURNING id;

-- any_active_run --
SELECT 1 FROM runs WHERE status IN ('PENDING', 'PROCESSING') LIMIT 1;

-- any_running_job --
SELECT 1 FROM jobs WHERE state = 'running' LIMIT 1;

-- any_waiting_job --
SELECT 1 FROM jobs WHERE state = 'waiting' LIMIT 1;

-- ## operator actions on a run

-- cancel_run_jobs --
UPDATE jobs SET state = 'cancelled', lease_owner = NULL, lease_expires_at = NULL,
       finished_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE run_id = :run_id AND state IN ('queued', 'running', 'waiting');

-- mark_run_cancelled --
UPDATE runs SET status = 'CANCELLED', cancelled = cancelled + :count,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0),
       finished_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id = :run_id AND status IN ('PENDING', 'PROCESSING');

-- retry_candidates --
-- The finished jobs of a run that `qualify retry` puts back: failed ones (all of them with
-- :all_failed, else those whose error code is in :codes) and done ones whose result has a
-- verdict in :verdicts or an error code in :codes (a result's code lives in its extra).
SELECT j.id, j.state, r.verdict
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
WHERE j.run_id = :run_id
  AND ((j.state = 'failed'
        AND (:all_failed OR j.error_code IN (SELECT value FROM json_each(:codes))))
       OR (j.state = 'done'
           AND (r.verdict IN (SELECT value FROM json_each(:verdicts))
                OR json_extract(r.extra, '$.error') IN (SELECT value FROM json_each(:codes)))))
ORDER BY j.id;

-- archive_outcomes --
-- How the jobs :ids ended (a result, or a failure), kept as history before they run again.
INSERT INTO result_history (job_id, run_id, state, verdict, score, reasons, evidence, extra,
                            worker_id, error_code, error, attempts, finished_at, replaced_at)
SELECT j.id, j.run_id, j.state, r.verdict, r.score, r.reasons, r.evidence, r.extra,
       r.worker_id, j.error_code, j.error, j.attempts, j.finished_at, ((julianday('now') - 2440587.5) * 86400.0)
FROM jobs j LEFT JOIN results r ON r.job_id = j.id
WHERE j.id IN (SELECT value FROM json_each(:ids)) AND j.state IN ('done', 'failed');

-- delete_results --
-- Their current results, once archived: a job has at most one result (unique key).
DELETE FROM results WHERE job_id IN (SELECT value FROM json_each(:ids));

-- requeue_finished_jobs --
-- Back to queued with fresh attempts. A failed job keeps its error code, so that one whose
-- worker died running it (lease_expired) still runs alone, as a suspect.
UPDATE jobs SET state = 'queued', attempts = 0, finished_at = NULL, next_attempt_at = NULL,
       lease_owner = NULL, lease_expires_at = NULL,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id IN (SELECT value FROM json_each(:ids)) AND state IN ('done', 'failed')
RETURNING id;

-- reopen_run --
-- The run's counters lose the jobs retried; it is active again.
UPDATE runs SET completed = completed - :completed, failed = failed - :failed,
       qualified = qualified - :qualified, unknown = unknown - :unknown,
       status = 'PROCESSING', finished_at = NULL,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id = :run_id;

-- history_of_job --
-- Earlier outcomes of one job, oldest first.
SELECT state, verdict, score, error_code, error, attempts, finished_at, replaced_at
FROM result_history WHERE job_id = :job_id ORDER BY id;

-- fail_unfinished_jobs --
-- Giving up on a run: its unfinished jobs fail, except any whose lease is still live.
UPDATE jobs SET state = 'failed', error_code = 'run_failed', error = :message,
       lease_owner = NULL, lease_expires_at = NULL,
       finished_at = ((julianday('now') - 2440587.5) * 86400.0),
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE run_id = :run_id
  AND (state IN ('queued', 'waiting')
       OR (state = 'running'
           AND lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0)));

-- mark_run_failed --
UPDATE runs SET status = 'FAILED', failed = failed + :count,
       updated_at = ((julianday('now') - 2440587.5) * 86400.0),
       finished_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id = :run_id;

-- ## workers

-- register_worker --
INSERT INTO workers (id, hostname, pid, concurrency, lease, version, started_at, heartbeat_at)
VALUES (:id, :hostname, :pid, :concurrency, :lease, :version,
        ((julianday('now') - 2440587.5) * 86400.0), ((julianday('now') - 2440587.5) * 86400.0));

-- worker_heartbeat --
UPDATE workers SET heartbeat_at = ((julianday('now') - 2440587.5) * 86400.0),
       in_flight = :in_flight, processed = :processed, failed = :failed
WHERE id = :id;

-- worker_stopped --
UPDATE workers SET stopped_at = ((julianday('now') - 2440587.5) * 86400.0),
       heartbeat_at = ((julianday('now') - 2440587.5) * 86400.0),
       in_flight = 0, processed = :processed, failed = :failed,
       paused_reason = NULL, paused_at = NULL, next_probe_at = NULL
WHERE id = :id;

-- worker_paused --
-- Paused for an outage (see qualify/worker/outage.py): why, since when (kept from the first
-- call of a pause), and when it probes next.
UPDATE workers SET paused_reason = :reason,
       paused_at = COALESCE(paused_at, ((julianday('now') - 2440587.5) * 86400.0)),
       next_probe_at = ((julianday('now') - 2440587.5) * 86400.0) + :next_probe_in
WHERE id = :id;

-- worker_resumed --
UPDATE workers SET paused_reason = NULL, paused_at = NULL, next_probe_at = NULL
WHERE id = :id;

-- list_workers --
-- Every worker seen within :recent seconds. A worker heartbeats every lease/3; missing a
-- whole lease means it is dead or hung.
SELECT id, hostname, pid, concurrency, lease, version, started_at, heartbeat_at, stopped_at,
       in_flight, processed, failed, paused_reason, paused_at, next_probe_at,
       CASE WHEN stopped_at IS NULL
                 AND heartbeat_at >= ((julianday('now') - 2440587.5) * 86400.0) - lease
            THEN 1 ELSE 0 END AS alive
FROM workers
WHERE heartbeat_at >= ((julianday('now') - 2440587.5) * 86400.0) - :recent
ORDER BY hostname, started_at;

-- ## what is happening now (the live dashboard: small partial indexes, bounded reads)

-- leases_expiring --
SELECT id AS job_id, run_id, domain, lease_owner AS owner,
       lease_expires_at - ((julianday('now') - 2440587.5) * 86400.0) AS expires_in
FROM jobs
WHERE state = 'running'
  AND lease_expires_at < ((julianday('now') - 2440587.5) * 86400.0) + :within
ORDER BY lease_expires_at LIMIT :limit;

-- recent_failures --
SELECT run_id, error_code, COUNT(*) AS count
FROM (SELECT run_id, error_code FROM jobs WHERE state = 'failed'
      ORDER BY finished_at DESC LIMIT :sample) AS recent
GROUP BY run_id, error_code;

-- retrying --
SELECT run_id, error_code, COUNT(*) AS count
FROM (SELECT run_id, error_code FROM jobs WHERE state = 'waiting'
      ORDER BY next_attempt_at LIMIT :sample) AS due
GROUP BY run_id, error_code;

-- ## pages of a run's results (qualify ui: keyset pagination, never OFFSET)
--
-- Each page query reads a window of at most :window rows in its order, from just after the
-- key of the last row shown, and keeps those that pass the filters (each NULL when not in
-- use): :outcome (a verdict, 'failed', 'cancelled' or 'pending'), :tier, :code (the job's
-- error code, or the code a qualifier gave with its result), :text (lower case; in the
-- domain or the evidence) and :unscored (only rows without a score). A filter that matches
-- few rows therefore never reads a whole run in one statement: the caller goes on from the
-- window's end (the *_window_end queries).

-- results_page_by_domain --
-- In domain order (jobs_run_domain), after :after ('' for the first page).
WITH scanned AS (
    SELECT id FROM jobs WHERE run_id = :run_id AND domain > :after ORDER BY domain LIMIT :window
)
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error, j.finished_at,
       j.next_attempt_at, r.id AS result_id, r.verdict, r.score, r.reasons,
       json_extract(r.extra, '$.tier') AS tier,
       json_extract(r.extra, '$.confidence') AS confidence,
       json_extract(r.extra, '$.error') AS result_error,
       json_extract(r.evidence, '$.title') AS title
FROM scanned s JOIN jobs j ON j.id = s.id LEFT JOIN results r ON r.job_id = j.id
WHERE (:outcome IS NULL
       OR (:outcome = 'failed' AND j.state = 'failed')
       OR (:outcome = 'cancelled' AND j.state = 'cancelled')
       OR (:outcome = 'pending' AND j.state IN ('queued', 'running', 'waiting'))
       OR r.verdict = :outcome)
  AND (:tier IS NULL OR json_extract(r.extra, '$.tier') = :tier)
  AND (:code IS NULL OR COALESCE(j.error_code, json_extract(r.extra, '$.error')) = :code)
  AND (:text IS NULL OR instr(j.domain, :text) > 0 OR instr(lower(r.evidence), :text) > 0)
  AND (NOT :unscored OR r.score IS NULL)
ORDER BY j.domain LIMIT :limit;

-- domain_window_end --
-- The last domain of the window results_page_by_domain read; NULL when the run ended in it.
SELECT domain FROM jobs WHERE run_id = :run_id AND domain > :after
ORDER BY domain LIMIT 1 OFFSET :offset;

-- results_page_by_score_desc --
-- Scored results, best first (results_run_score), after (:score, :result_id).
WITH scanned AS (
    SELECT id FROM results
    WHERE run_id = :run_id AND score IS NOT NULL AND (score, id) < (:score, :result_id)
    ORDER BY score DESC, id DESC LIMIT :window
)
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error, j.finished_at,
       j.next_attempt_at, r.id AS result_id, r.verdict, r.score, r.reasons,
       json_extract(r.extra, '$.tier') AS tier,
       json_extract(r.extra, '$.confidence') AS confidence,
       json_extract(r.extra, '$.error') AS result_error,
       json_extract(r.evidence, '$.title') AS title
FROM scanned s JOIN results r ON r.id = s.id JOIN jobs j ON j.id = r.job_id
WHERE (:outcome IS NULL OR r.verdict = :outcome)
  AND (:tier IS NULL OR json_extract(r.extra, '$.tier') = :tier)
  AND (:code IS NULL OR COALESCE(j.error_code, json_extract(r.extra, '$.error')) = :code)
  AND (:text IS NULL OR instr(j.domain, :text) > 0 OR instr(lower(r.evidence), :text) > 0)
ORDER BY r.score DESC, r.id DESC LIMIT :limit;

-- score_window_end_desc --
SELECT score, id AS result_id FROM results
WHERE run_id = :run_id AND score IS NOT NULL AND (score, id) < (:score, :result_id)
ORDER BY score DESC, id DESC LIMIT 1 OFFSET :offset;

-- results_page_by_score_asc --
-- Scored results, lowest first, after (:score, :result_id).
WITH scanned AS (
    SELECT id FROM results
    WHERE run_id = :run_id AND score IS NOT NULL AND (score, id) > (:score, :result_id)
    ORDER BY score, id LIMIT :window
)
SELECT j.id AS job_id, j.domain, j.state, j.attempts, j.error_code, j.error, j.finished_at,
       j.next_attempt_at, r.id AS result_id, r.verdict, r.score, r.reasons,
       json_extract(r.extra, '$.tier') AS tier,
       json_extract(r.extra, '$.confidence') AS confidence,
       json_extract(r.extra, '$.error') AS result_error,
       json_extract(r.evidence, '$.title') AS title
FROM scanned s JOIN results r ON r.id = s.id JOIN jobs j ON j.id = r.job_id
WHERE (:outcome IS NULL OR r.verdict = :outcome)
  AND (:tier IS NULL OR json_extract(r.extra, '$.tier') = :tier)
  AND (:code IS NULL OR COALESCE(j.error_code, json_extract(r.extra, '$.error')) = :code)
  AND (:text IS NULL OR instr(j.domain, :text) > 0 OR instr(lower(r.evidence), :text) > 0)
ORDER BY r.score, r.id LIMIT :limit;

-- score_window_end_asc --
SELECT score, id AS result_id FROM results
WHERE run_id = :run_id AND score IS NOT NULL AND (score, id) > (:score, :result_id)
ORDER BY score, id LIMIT 1 OFFSET :offset;

-- count_result_kinds --
-- A run's results by tier and by the error code a qualifier gave with them (one pass).
SELECT json_extract(extra, '$.tier') AS tier, json_extract(extra, '$.error') AS error,
       COUNT(*) AS count
FROM results WHERE run_id = :run_id GROUP BY 1, 2;

-- result_provenance --
-- Who recorded a job's result, and when.
SELECT worker_id, created_at FROM results WHERE job_id = :job_id;

-- ## the page store (qualify/store/pages.py)

-- site_pages --
-- The copies kept for one site fetched within :max_age seconds (NULL: any age), each
-- with its document when it has one.
SELECT p.url, p.final_url, p.status, p.redirects, p.error_code, p.error, p.content_hash,
       p.fetched_at, c.body
FROM pages p LEFT JOIN page_contents c ON c.hash = p.content_hash
WHERE p.site = :site
  AND (:max_age IS NULL OR p.fetched_at >= ((julianday('now') - 2440587.5) * 86400.0) - :max_age);

-- insert_page_content --
-- A document is stored once under its hash; the same document again changes nothing.
INSERT INTO page_contents (hash, body, raw_bytes, stored_bytes, created_at)
VALUES (:hash, :body, :raw_bytes, :stored_bytes, ((julianday('now') - 2440587.5) * 86400.0))
ON CONFLICT (hash) DO NOTHING;

-- upsert_page --
-- The newest copy of a URL replaces the one kept before.
INSERT INTO pages (url, site, final_url, status, redirects, error_code, error, content_hash,
                   fetched_at)
VALUES (:url, :site, :final_url, :status, :redirects, :error_code, :error,
        :content_hash, ((julianday('now') - 2440587.5) * 86400.0))
ON CONFLICT (url) DO UPDATE SET
    site = excluded.site, final_url = excluded.final_url, status = excluded.status,
    redirects = excluded.redirects, error_code = excluded.error_code, error = excluded.error,
    content_hash = excluded.content_hash, fetched_at = excluded.fetched_at;

-- count_old_pages --
-- Copies fetched more than :older_than seconds ago (read through pages_fetched_at).
SELECT COUNT(*) AS pages, COUNT(DISTINCT site) AS sites FROM pages
WHERE fetched_at < ((julianday('now') - 2440587.5) * 86400.0) - :older_than;

-- delete_old_pages --
DELETE FROM pages WHERE fetched_at < ((julianday('now') - 2440587.5) * 86400.0) - :older_than;

-- unreferenced_page_contents --
-- Documents no page refers to any more (after a prune, or a page whose content changed).
SELECT COUNT(*) AS contents, COALESCE(SUM(stored_bytes), 0) AS stored_bytes
FROM page_contents c
WHERE NOT EXISTS (SELECT 1 FROM pages p WHERE p.content_hash = c.hash);

-- delete_unreferenced_page_contents --
DELETE FROM page_contents
WHERE NOT EXISTS (SELECT 1 FROM pages p WHERE p.content_hash = page_contents.hash);

-- page_store_stats --
SELECT (SELECT COUNT(*) FROM pages) AS pages,
       (SELECT COUNT(DISTINCT site) FROM pages) AS sites,
       (SELECT COUNT(*) FROM page_contents) AS contents,
       (SELECT COALESCE(SUM(stored_bytes), 0) FROM page_contents) AS stored_bytes,
       (SELECT COALESCE(SUM(raw_bytes), 0) FROM page_contents) AS raw_bytes,
       (SELECT MIN(fetched_at) FROM pages) AS oldest;

-- ## the llm qualifier's verdict cache and token accounts

-- llm_cached_verdict --
SELECT cache_key, model, prompt_version, answer, prompt_tokens, completion_tokens
FROM llm_verdicts WHERE cache_key = :key;

-- insert_llm_verdict --
-- A second verdict under the same key (two workers paid for the same prompt) changes nothing.
INSERT INTO llm_verdicts (cache_key, model, prompt_version, answer, prompt_tokens,
                          completion_tokens, created_at)
VALUES (:key, :model, :prompt_version, :answer, :prompt_tokens, :completion_tokens, ((julianday('now') - 2440587.5) * 86400.0))
ON CONFLICT (cache_key) DO NOTHING;

-- insert_llm_account --
INSERT INTO llm_accounts (run_id, model, max_tokens, price_in, price_out)
VALUES (:run_id, :model, :max_tokens, :price_in, :price_out);

-- llm_account --
SELECT run_id, model, max_tokens, prompt_tokens, completion_tokens, calls, cache_hits,
       price_in, price_out
FROM llm_accounts WHERE run_id = :run_id;

-- llm_accounts_of_runs --
SELECT run_id, model, max_tokens, prompt_tokens, completion_tokens, calls, cache_hits,
       price_in, price_out
FROM llm_accounts WHERE run_id IN (SELECT value FROM json_each(:run_ids));

-- spend_llm_account --
-- One answer on a run's account: a paid call or a cache hit (a run made without an
-- account, such as a rescore, gets one).
INSERT INTO llm_accounts (run_id, prompt_tokens, completion_tokens, calls, cache_hits)
VALUES (:run_id, :prompt_tokens, :completion_tokens, :calls, :cache_hits)
ON CONFLICT (run_id) DO UPDATE SET
    prompt_tokens = llm_accounts.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = llm_accounts.completion_tokens + excluded.completion_tokens,
    calls = llm_accounts.calls + excluded.calls,
    cache_hits = llm_accounts.cache_hits + excluded.cache_hits
RETURNING run_id, model, max_tokens, prompt_tokens, completion_tokens, calls, cache_hits,
          price_in, price_out;

-- set_llm_account --
-- `qualify run-set`: a new budget or prices (NULL leaves one as it is; :clear_budget
-- removes the budget).
INSERT INTO llm_accounts (run_id, max_tokens, price_in, price_out)
VALUES (:run_id, :max_tokens, :price_in, :price_out)
ON CONFLICT (run_id) DO UPDATE SET
    max_tokens = CASE WHEN :clear_budget THEN NULL
                      ELSE COALESCE(excluded.max_tokens, llm_accounts.max_tokens) END,
    price_in = COALESCE(excluded.price_in, llm_accounts.price_in),
    price_out = COALESCE(excluded.price_out, llm_accounts.price_out);

-- stop_run_for_budget --
-- Its budget is spent: the run shows BUDGET, and no longer counts as active, so the
-- reconciler does not hand its set-aside jobs to a worker again.
UPDATE runs SET status = 'BUDGET', updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id = :run_id AND status IN ('PENDING', 'PROCESSING');

-- resume_budget_run --
-- A larger budget: the run goes on (finish_done_runs, next in the same transaction,
-- completes it if its last jobs finished meanwhile).
UPDATE runs SET status = 'PROCESSING',
       updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE id = :run_id AND status = 'BUDGET'
RETURNING status;

-- set_aside_jobs --
-- Jobs of a run whose budget is spent: queued again without a message and without the
-- attempt counted, fenced as release_jobs; `qualify run-set` enqueues them.
UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL,
       attempts = attempts - 1, updated_at = ((julianday('now') - 2440587.5) * 86400.0)
WHERE state = 'running' AND lease_owner = :owner
  AND (id, claims) IN (SELECT CAST(key AS INTEGER), value FROM json_each(:fences))
RETURNING id, run_id;

-- run_status --
SELECT status FROM runs WHERE id = :run_id;
