import { Injectable } from '@nestjs/common';
import { Sql, type SqlExecutor } from '../database/sql.js';

/** An endpoint as stored; its secrets sealed. */
export interface EndpointRow {
  id: string;
  url: string;
  events: string[] | null;
  description: string | null;
  enabled: boolean;
  disabled_reason: string | null;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: Date | null;
  failing_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** A delivery a worker claimed, with what it sends: the event's body, the endpoint's URL and sealed secrets. */
export interface ClaimedDeliveryRow {
  id: string;
  endpoint_id: string;
  attempts: number;
  url: string;
  secret: string;
  /** The previous secret, while it still signs (24 hours after a rotation). */
  previous_secret: string | null;
  event_id: string;
  body: string;
}

export interface AttemptRow {
  attempted_at: string;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  response_excerpt: string | null;
}

/** A delivery in the log, with its event and attempts. */
export interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: AttemptRow[];
  next_attempt_at: Date | null;
  created_at: Date;
  ended_at: Date | null;
  /** The keyset of the log's order: created_at as text (microseconds), for the cursor. */
  cursor_time: string;
}

export interface NewEndpoint {
  id: string;
  url: string;
  events: string[] | null;
  description: string | null;
  secret: string;
}

export interface EndpointChanges {
  url?: string;
  events?: string[] | null;
  description?: string | null;
  enabled?: boolean;
}

/** What an attempt's outcome writes. */
export interface AttemptOutcome {
  ok: boolean;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  excerpt: string | null;
  /** For a failure: when to try again; null: the delivery has failed for good. */
  retryAt: Date | null;
}

const ENDPOINT_COLUMNS = `id, url, events, description, enabled, disabled_reason, secret, previous_secret, previous_secret_until, failing_since, created_at, updated_at`;

// The outbox: the event, and a delivery for each enabled endpoint that takes its type, in the caller's
// transaction. Without such an endpoint nothing is written. The endpoints subscribed are those the
// change's transaction sees.
const RECORD = `
  WITH targets AS (SELECT e.id FROM webhook_endpoints e WHERE e.enabled AND (e.events IS NULL OR $2 = ANY (e.events))),
       event AS (INSERT INTO webhook_events (id, type, body) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM targets) RETURNING id)
  INSERT INTO webhook_deliveries (endpoint_id, event_id) SELECT t.id, event.id FROM targets t CROSS JOIN event
  RETURNING id`;

// One endpoint's own event (webhook.test): sent to it whatever its subscriptions.
const RECORD_FOR_ENDPOINT = `
  WITH endpoint AS (SELECT e.id FROM webhook_endpoints e WHERE e.id = $4),
       event AS (INSERT INTO webhook_events (id, type, body) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM endpoint) RETURNING id)
  INSERT INTO webhook_deliveries (endpoint_id, event_id) SELECT endpoint.id, event.id FROM endpoint CROSS JOIN event
  RETURNING id`;

// Due deliveries of enabled endpoints, not held by a live lease, the oldest first; of each endpoint at
// most as many as it has free slots here ($4: {endpoint_id: free}, else $3), read through its own
// index (ix_webhook_deliveries_due: endpoint, then due time), so that a claim reads a few index entries
// per endpoint however long the backlog. Only the chosen rows are locked, each found by its key (= ANY
// of an array: a semi-join, or a condition on status there, had the planner read every pending
// delivery), with SKIP LOCKED, so that instances claiming at once never get the same one; the UPDATE,
// which sees the newest version of a row it holds, leases it only if it is still pending and unleased.
// (Reading all pending deliveries to sort them, and locking 4 × $1 candidates
// to choose a few, made the claim PostgreSQL's dearest statement under a stream: bench/README.md.)
const CLAIM = `
  WITH chosen AS (
    SELECT due.id FROM webhook_endpoints e
     CROSS JOIN LATERAL (
       SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.locked_until IS NULL OR d.locked_until < now())
        ORDER BY d.next_attempt_at
        LIMIT COALESCE(($4::jsonb ->> e.id::text)::int, $3)) due
     WHERE e.enabled
     ORDER BY due.next_attempt_at
     LIMIT $1),
  locked AS (SELECT d.id FROM webhook_deliveries d WHERE d.id = ANY (ARRAY(SELECT id FROM chosen)) FOR UPDATE OF d SKIP LOCKED)
  UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => $2), attempts = d.attempts + 1
    FROM locked, webhook_endpoints e, webhook_events ev
   WHERE d.id = locked.id AND e.id = d.endpoint_id AND ev.id = d.event_id
     AND d.status = 'pending' AND (d.locked_until IS NULL OR d.locked_until < now())
  RETURNING d.id, d.endpoint_id, d.attempts, e.url, e.secret,
            CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret, ev.id AS event_id, ev.body`;

// Attempts' outcomes, many in one statement (the sender writes them in batches): each delivery
// changed if its lease is still that attempt's (attempt = the number it claimed), its log entry, and
// its endpoint's health. A success ends the endpoint's failing streak; a failure starts one, and an
// endpoint failing for longer than $9 seconds is disabled (failing). The endpoint's row is written only
// when that changes: every delivery of an endpoint ends here, and writing its row each time would
// make them wait on one another's commits.
const FINISH = `
  WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::bool[], $4::int[], $5::int[], $6::text[], $7::text[], $8::timestamptz[])
      AS t(id, attempt, ok, status_code, duration_ms, error, excerpt, retry_at)),
  delivery AS (
    UPDATE webhook_deliveries d
       SET status = CASE WHEN i.ok THEN 'succeeded' WHEN i.retry_at IS NULL THEN 'failed' ELSE 'pending' END,
           next_attempt_at = CASE WHEN i.ok THEN NULL ELSE i.retry_at END,
           ended_at = CASE WHEN i.ok OR i.retry_at IS NULL THEN now() END,
           locked_until = NULL
      FROM input i
     WHERE d.id = i.id AND d.attempts = i.attempt AND d.status = 'pending'
    RETURNING d.id, d.endpoint_id, i.ok),
  attempt AS (
    INSERT INTO webhook_attempts (delivery_id, status_code, duration_ms, error, response_excerpt)
    SELECT i.id, i.status_code, i.duration_ms, i.error, i.excerpt FROM input i JOIN delivery ON delivery.id = i.id),
  outcome AS (SELECT endpoint_id, bool_or(ok) AS ok FROM delivery GROUP BY endpoint_id),
  health AS (
    UPDATE webhook_endpoints e
       SET failing_since = CASE WHEN o.ok THEN NULL ELSE COALESCE(e.failing_since, now()) END,
           enabled = CASE WHEN NOT o.ok AND e.failing_since < now() - make_interval(secs => $9) THEN false ELSE e.enabled END,
           disabled_reason = CASE WHEN NOT o.ok AND e.failing_since < now() - make_interval(secs => $9) THEN 'failing' ELSE e.disabled_reason END
      FROM outcome o
     WHERE e.id = o.endpoint_id
       AND (CASE WHEN o.ok THEN e.failing_since IS NOT NULL
                 ELSE e.failing_since IS NULL OR (e.enabled AND e.failing_since < now() - make_interval(secs => $9)) END)
    RETURNING e.id)
  SELECT id FROM delivery`;

const DELIVERY_COLUMNS = `d.id, d.endpoint_id, d.event_id, ev.type AS event_type, d.status, d.next_attempt_at, d.created_at, d.ended_at,
  (d.created_at AT TIME ZONE 'UTC')::text AS cursor_time,
  COALESCE((SELECT json_agg(json_build_object('attempted_at', a.attempted_at, 'status_code', a.status_code, 'duration_ms', a.duration_ms,
                                              'error', a.error, 'response_excerpt', a.response_excerpt) ORDER BY a.attempted_at)
              FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempts`;

// The log, newest first, after the cursor (created_at, id) when one is given.
const LIST_DELIVERIES = `
  SELECT ${DELIVERY_COLUMNS}
    FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id
   WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2)
     AND ($3::timestamp IS NULL OR (d.created_at AT TIME ZONE 'UTC', d.id) < ($3::timestamp, $4::uuid))
   ORDER BY d.created_at DESC, d.id DESC
   LIMIT $5`;

const GET_DELIVERY = `
  SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events ev ON ev.id = d.event_id WHERE d.id = $1 AND d.endpoint_id = $2`;

// Sends it again now: pending, due at once, its failed end undone; not while an attempt is under way.
const RETRY = `
  UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(), ended_at = NULL
   WHERE d.id = $1 AND d.endpoint_id = $2 AND (d.locked_until IS NULL OR d.locked_until < now())
  RETURNING d.id`;

/** The webhooks' statements: the only code that knows their tables. */
@Injectable()
export class WebhooksRepository {
  constructor(private readonly sql: Sql) {}

  /** Writes the event and its deliveries through `exec` (the change's transaction); whether anything was written. */
  async record(exec: SqlExecutor, id: string, type: string, body: string): Promise<boolean> {
    return (await exec(RECORD, [id, type, body], 'webhooks_record')).length > 0;
  }

  async recordFor(endpointId: string, id: string, type: string, body: string): Promise<string | undefined> {
    const [row] = await this.sql.rows<{ id: string }>(RECORD_FOR_ENDPOINT, [id, type, body, endpointId]);
    return row?.id;
  }

  async insertEndpoint(endpoint: NewEndpoint): Promise<EndpointRow> {
    const [row] = await this.sql.rows<EndpointRow>(
      `INSERT INTO webhook_endpoints (id, url, events, description, secret) VALUES ($1, $2, $3, $4, $5) RETURNING ${ENDPOINT_COLUMNS}`,
      [endpoint.id, endpoint.url, endpoint.events, endpoint.description, endpoint.secret],
    );
    return row;
  }

  listEndpoints(): Promise<EndpointRow[]> {
    return this.sql.rows<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id`);
  }

  async findEndpoint(id: string): Promise<EndpointRow | undefined> {
    const [row] = await this.sql.rows<EndpointRow>(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1`, [id]);
    return row;
  }

  /** Applies the changes given; enabling clears the disabled reason and the failing streak, disabling by hand records `user`. */
  async updateEndpoint(id: string, changes: EndpointChanges): Promise<EndpointRow | undefined> {
    const [row] = await this.sql.rows<EndpointRow>(
      `UPDATE webhook_endpoints SET
         url = CASE WHEN $2 THEN $3 ELSE url END,
         events = CASE WHEN $4 THEN $5::text[] ELSE events END,
         description = CASE WHEN $6 THEN $7 ELSE description END,
         enabled = COALESCE($8, enabled),
         disabled_reason = CASE WHEN $8 IS NULL THEN disabled_reason WHEN $8 THEN NULL ELSE 'user' END,
         failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END,
         updated_at = now()
       WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
      [
        id,
        changes.url !== undefined,
        changes.url ?? null,
        changes.events !== undefined,
        changes.events ?? null,
        changes.description !== undefined,
        changes.description ?? null,
        changes.enabled ?? null,
      ],
    );
    return row;
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    return (await this.sql.rows(`DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id`, [id])).length > 0;
  }

  /** The new secret; the current one signs too for `overlapSeconds` more. */
  async rotateSecret(id: string, secret: string, overlapSeconds: number): Promise<EndpointRow | undefined> {
    const [row] = await this.sql.rows<EndpointRow>(
      `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = now() + make_interval(secs => $3), secret = $2, updated_at = now()
        WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
      [id, secret, overlapSeconds],
    );
    return row;
  }

  claim(limit: number, leaseSeconds: number, endpointLimit: number, freeByEndpoint: Record<string, number>): Promise<ClaimedDeliveryRow[]> {
    // Not a named statement: PostgreSQL plans it for the log as it is at each claim. A prepared one keeps
    // the generic plan it made while the log was small (nothing analyzes a table on the embedded database,
    // nor where autovacuum is off), which read the whole log with each claim (webhooks.plans.spec.ts).
    return this.sql.rows<ClaimedDeliveryRow>(CLAIM, [limit, leaseSeconds, endpointLimit, JSON.stringify(freeByEndpoint)]);
  }

  /** Stores attempts' outcomes in one statement; the ids of those stored (a delivery whose lease was lost is not). */
  async finish(outcomes: (AttemptOutcome & { deliveryId: string; attempt: number })[], disableAfterSeconds: number): Promise<Set<string>> {
    const rows = await this.sql.rows<{ id: string }>(FINISH, [
      outcomes.map((o) => o.deliveryId),
      outcomes.map((o) => o.attempt),
      outcomes.map((o) => o.ok),
      outcomes.map((o) => o.statusCode),
      outcomes.map((o) => o.durationMs),
      outcomes.map((o) => o.error),
      outcomes.map((o) => o.excerpt),
      outcomes.map((o) => (o.ok ? null : o.retryAt)),
      disableAfterSeconds,
    ]); // not named either: a kept generic plan found these deliveries by reading every pending one
    return new Set(rows.map((row) => row.id));
  }

  listDeliveries(endpointId: string, status: string | null, after: { time: string; id: string } | null, limit: number): Promise<DeliveryRow[]> {
    return this.sql.rows<DeliveryRow>(LIST_DELIVERIES, [endpointId, status, after?.time ?? null, after?.id ?? null, limit]);
  }

  async findDelivery(endpointId: string, deliveryId: string): Promise<DeliveryRow | undefined> {
    const [row] = await this.sql.rows<DeliveryRow>(GET_DELIVERY, [deliveryId, endpointId]);
    return row;
  }

  /** Deletes the deliveries that ended more than `days` ago, and the events no delivery needs any more. */
  async purge(days: number): Promise<void> {
    await this.sql.rows(`DELETE FROM webhook_deliveries WHERE status <> 'pending' AND ended_at < now() - make_interval(days => $1)`, [days]);
    await this.sql.rows(
      `DELETE FROM webhook_events ev WHERE ev.created_at < now() - make_interval(days => $1)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = ev.id)`,
      [days],
    );
  }

  async retry(endpointId: string, deliveryId: string): Promise<boolean> {
    return (await this.sql.rows(RETRY, [deliveryId, endpointId])).length > 0;
  }
}
