/**
 * The plans PostgreSQL makes for the sender's claim while the delivery log grows on tables never
 * analyzed (autovacuum may be off; the embedded database has none). A named statement keeps the generic
 * plan it made while the log was small, until the table is analyzed: for the claim that plan read the
 * whole log (deliveries are kept 30 days) with every claim, a cost that grew with each delivery made
 * (bench/README.md, 2026-12-07). The claim is therefore planned at each run, for the log as it is.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plans, type Statement, statementOf } from '../../test/support/plans.js';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import { WebhooksRepository } from './webhooks.repository.js';

let module: RepositoryModule;
let repository: WebhooksRepository;
let dataSource: DataSource;
let endpointId: string;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [WebhooksRepository] });
  repository = module.moduleRef.get(WebhooksRepository);
  dataSource = module.dataSource;
  [{ id: endpointId }] = await dataSource.query(`INSERT INTO webhook_endpoints (url, secret) VALUES ('https://receiver.example/hooks', 'sealed') RETURNING id`);
});

afterAll(() => module?.close());

/** Brings the endpoint's log to `ended` ended deliveries and `pending` due ones (of new events). */
async function logOf(ended: number, pending: number): Promise<void> {
  const [have] = await dataSource.query(
    `SELECT count(*) FILTER (WHERE status = 'succeeded')::int AS ended, count(*) FILTER (WHERE status = 'pending')::int AS pending FROM webhook_deliveries`,
  );
  for (const [status, count] of [
    ['succeeded', ended - have.ended],
    ['pending', pending - have.pending],
  ] as const) {
    await dataSource.query(
      `WITH events AS (
         INSERT INTO webhook_events (id, type, body)
         SELECT 'evt_' || md5(random()::text || n), 'connection.created', '{}' FROM generate_series(1, $1) n RETURNING id)
       INSERT INTO webhook_deliveries (endpoint_id, event_id, status, attempts, next_attempt_at, ended_at)
       SELECT $2, id, $3, 1, CASE WHEN $3 = 'pending' THEN now() - interval '1 hour' END, CASE WHEN $3 = 'succeeded' THEN now() END FROM events`,
      [Math.max(0, count), endpointId, status],
    );
  }
}

/** The claim as the sender sends it (nothing is taken: it asks for none). */
const claimStatement = (): Promise<Statement> => statementOf(module.moduleRef, () => repository.claim(0, 30, 16, {}));

/** The outcome of one attempt, as the sender stores it. */
const finishStatement = (): Promise<Statement> =>
  statementOf(module.moduleRef, () =>
    repository.finish([{ deliveryId: randomUUID(), attempt: 1, ok: true, statusCode: 204, durationMs: 12, error: null, excerpt: null, retryAt: null }], 3600),
  );

const ofTheLog = (scans: string[]) => scans.filter((scan) => scan.includes('webhook_deliveries'));

describe("the sender's claim on a growing log of deliveries", () => {
  it('is sent without a name, so that no plan is kept from one claim to the next; so is the outcome', async () => {
    expect((await claimStatement()).name).toBeUndefined();
    expect((await finishStatement()).name).toBeUndefined();
  });

  // Names matter on PostgreSQL only (the embedded database's connection ignores them, see Sql).
  it.skipIf(!process.env.DATABASE_URL)('would read the whole log through the generic plan a prepared claim keeps from a small log', async () => {
    await logOf(300, 20);
    expect(ofTheLog((await plans(dataSource, await claimStatement())).generic)).toContain('Seq Scan on webhook_deliveries');
  });

  for (const [ended, pending] of [
    [3000, 20],
    [3000, 3000],
    [20000, 20],
  ] as const) {
    it(`reads the log by its keys with ${ended} ended deliveries and ${pending} due`, async () => {
      await logOf(ended, pending);
      const scans = ofTheLog((await plans(dataSource, await claimStatement())).custom);
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) expect(scan, scans.join('; ')).not.toMatch(/^Seq Scan/);
      // The deliveries chosen are locked through the primary key.
      expect(scans.some((scan) => scan.endsWith('using pk_webhook_deliveries')), scans.join('; ')).toBe(true);
      // An outcome finds its delivery by its key, not among all those pending.
      const outcome = ofTheLog((await plans(dataSource, await finishStatement())).custom);
      expect(outcome.filter((scan) => scan !== 'ModifyTable on webhook_deliveries'), outcome.join('; ')).toEqual([
        expect.stringMatching(/using pk_webhook_deliveries$/),
      ]);
    });
  }
});
