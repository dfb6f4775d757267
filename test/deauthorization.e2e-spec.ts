/**
 * Disconnects reach the provider, and providers' deauthorizations reach us, against the fake
 * providers over real HTTP, connections made by the real connect flow. A disconnect erases the tokens
 * at once and deregisters at the provider in the background with the token that was held (sealed in
 * the job, erased when it ends), retrying what may pass; Garmin's, Strava's and Withings' notices
 * (Withings' form-encoded, as it sends them) revoke (reason provider_deregistered) or change a scope,
 * behind the secret in their URL. On the embedded database, or on PostgreSQL with DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter2 } from '@nestjs/event-emitter';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONNECTION_EVENTS, type ConnectionEvent } from '../src/connections/connection.events.js';
import { DEREGISTRATION_JOB } from '../src/connections/deregistration-job.js';
import { type Provider, PROVIDERS } from '../src/connections/providers.js';
import { TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { ProviderNoticeHandler } from '../src/deauthorization/provider-notice.handler.js';
import { PROVIDER_NOTICE_JOB } from '../src/deauthorization/provider-notices.js';
import { JobsService } from '../src/jobs/jobs.service.js';
import { type ConnectWorld, startConnectWorld } from './support/connect-world.js';
import { FAKE_ACCOUNTS, GARMIN_PERMISSIONS } from './support/fake-providers.js';
import { ADMIN_KEY, TOKEN_KEY } from './support/test-app.js';
import { until } from './support/until.js';

const GARMIN_TOKEN = randomBytes(24).toString('base64url');
const STRAVA_TOKEN = randomBytes(24).toString('base64url');
const STRAVA_VERIFY = randomBytes(18).toString('base64url');
const WITHINGS_TOKEN = randomBytes(24).toString('base64url');

let w: ConnectWorld;
const revoked: ConnectionEvent[] = [];
const cipher = new TokenCipher(TOKEN_KEY);

beforeAll(async () => {
  w = await startConnectWorld({
    providerEnv: {
      GARMIN_WEBHOOK_TOKEN: GARMIN_TOKEN,
      STRAVA_WEBHOOK_TOKEN: STRAVA_TOKEN,
      STRAVA_WEBHOOK_VERIFY_TOKEN: STRAVA_VERIFY,
      WITHINGS_WEBHOOK_TOKEN: WITHINGS_TOKEN,
    },
  });
  w.t.app.get(EventEmitter2).on(CONNECTION_EVENTS.revoked, (event: ConnectionEvent) => revoked.push(event));
});

afterAll(async () => {
  if (w) {
    w.expectNoLeaks();
    // The secrets in the notices' URLs are not logged either.
    for (const line of w.t.logs) for (const secret of [GARMIN_TOKEN, STRAVA_TOKEN, STRAVA_VERIFY, WITHINGS_TOKEN]) expect(line).not.toContain(secret);
  }
  await w?.close();
});

interface Linked {
  userId: string;
  provider: Provider;
  id: string;
}

async function link(provider: Provider, userId?: string): Promise<Linked> {
  userId ??= await w.createUser();
  const session = await w.createSession(userId, { provider });
  const visits = await w.run(w.browser(), session.url);
  const outcome = w.returned(visits[visits.length - 1]);
  expect(outcome.status, JSON.stringify(outcome)).toBe('connected');
  return { userId, provider, id: outcome.connection_id! };
}

async function accessTokenOf(c: Linked): Promise<string> {
  const [row] = await w.t.query<{ access_token: string }>('SELECT access_token FROM connections WHERE id = $1', [c.id]);
  return cipher.decrypt(row.access_token, tokenContext(c.userId, c.provider, 'access_token'));
}

async function connectionRow(c: Linked) {
  const [row] = await w.t.query<{ status: string; status_reason: string | null; access_token: string | null; refresh_token: string | null; scope: string | null; updated_at: Date }>(
    'SELECT status, status_reason, access_token, refresh_token, scope, updated_at FROM connections WHERE id = $1',
    [c.id],
  );
  return row;
}

interface JobRow {
  id: string;
  kind: string;
  status: string;
  secret: string | null;
  attempts: number;
  outcome: string | null;
  run_at: Date;
  payload: Record<string, unknown>;
}

async function jobsFor(connectionId: string): Promise<JobRow[]> {
  return w.t.query<JobRow>(`SELECT * FROM jobs WHERE kind = $1 AND payload->>'connection_id' = $2 ORDER BY created_at`, [DEREGISTRATION_JOB, connectionId]);
}

const drain = () => w.t.app.get(JobsService).drain();

function disconnect(c: Linked) {
  return w.api('delete', `/api/v1/users/${c.userId}/connections/${c.provider}`);
}

function notify(provider: string, token: string, body: unknown) {
  return request(w.t.server).post(`/webhooks/providers/${provider}/${token}`).send(body as object);
}

describe('a disconnect reaches the provider', () => {
  it('deregisters at each of the nine providers with the token that was held, after erasing it here at once', async () => {
    for (const provider of PROVIDERS) {
      const c = await link(provider);
      const token = await accessTokenOf(c);
      const calls = w.fake.callsTo(provider, 'deregister').length;
      expect((await disconnect(c)).status).toBe(204);
      // Erased at once, whatever the provider does next.
      const row = await connectionRow(c);
      expect({ status: row.status, reason: row.status_reason, access: row.access_token, refresh: row.refresh_token }).toEqual({
        status: 'revoked',
        reason: 'user_disconnected',
        access: null,
        refresh: null,
      });
      await drain();
      expect(w.fake.callsTo(provider, 'deregister').length, `${provider} was told`).toBeGreaterThan(calls);
      expect(w.fake.isActive(token), `${provider}'s grant ended at the provider`).toBe(false);
      const [job] = await jobsFor(c.id);
      expect({ status: job.status, secret: job.secret, attempts: job.attempts }, provider).toEqual({ status: 'done', secret: null, attempts: 1 });
      expect((await connectionRow(c)).status).toBe('revoked');
    }
  });

  it('retries a provider that answers 503, the token sealed in the job meanwhile, and erases it when the job ends', async () => {
    const c = await link('garmin');
    const token = await accessTokenOf(c);
    w.fake.failNext('garmin', 'deregister', { status: 503 });
    await w.release(c.userId, c.provider);
    let [job] = await jobsFor(c.id);
    expect({ status: job.status, attempts: job.attempts, outcome: job.outcome }).toEqual({ status: 'pending', attempts: 1, outcome: 'provider_unavailable' });
    const wait = (new Date(job.run_at).getTime() - Date.now()) / 1000;
    expect(wait).toBeGreaterThan(50);
    expect(wait).toBeLessThanOrEqual(61);
    expect(job.secret).toMatch(/^v1\./);
    expect(JSON.stringify(job)).not.toContain(token);
    expect(cipher.decrypt(job.secret!, tokenContext(c.userId, 'garmin', 'access_token'))).toBe(token);
    expect(w.fake.isActive(token)).toBe(true);
    // Not due yet: a drain leaves it.
    await drain();
    expect((await jobsFor(c.id))[0].attempts).toBe(1);

    await w.t.query(`UPDATE jobs SET run_at = now() WHERE id = $1`, [job.id]);
    await drain();
    [job] = await jobsFor(c.id);
    expect({ status: job.status, attempts: job.attempts, secret: job.secret }).toEqual({ status: 'done', attempts: 2, secret: null });
    expect(w.fake.isActive(token)).toBe(false);
    expect((await connectionRow(c)).status).toBe('revoked');
  });

  it('ends as already_gone when the grant ended at the provider first, and as failed (not retried) on a refusal', async () => {
    const c = await link('whoop');
    // The user removed the app at Whoop before disconnecting here: Whoop answers 401 to the deregistration.
    const token = await accessTokenOf(c);
    const res = await fetch(`${w.fake.baseUrl}/developer/v2/user/access`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(204);
    await w.release(c.userId, c.provider);
    let [job] = await jobsFor(c.id);
    expect({ status: job.status, outcome: job.outcome, attempts: job.attempts, secret: job.secret }).toEqual({ status: 'done', outcome: 'already_gone', attempts: 1, secret: null });

    const again = await link('whoop', c.userId);
    w.fake.failNext('whoop', 'deregister', { status: 400 });
    await w.release(again.userId, again.provider);
    [, job] = await jobsFor(c.id);
    expect({ status: job.status, outcome: job.outcome, attempts: job.attempts, secret: job.secret }).toEqual({
      status: 'failed',
      outcome: 'deregistration_failed',
      attempts: 1,
      secret: null,
    });
    expect((await connectionRow(c)).status).toBe('revoked');
  });

  it('does not deregister a connection linked again before its job ran (that would end the new grant)', async () => {
    const c = await link('oura');
    w.fake.failNext('oura', 'deregister', { status: 503 });
    await w.release(c.userId, c.provider);
    const again = await link('oura', c.userId);
    expect(again.id).toBe(c.id);
    const token = await accessTokenOf(again);
    await w.t.query(`UPDATE jobs SET run_at = now() WHERE payload->>'connection_id' = $1`, [c.id]);
    await drain();
    const [job] = await jobsFor(c.id);
    expect({ status: job.status, outcome: job.outcome, secret: job.secret }).toEqual({ status: 'done', outcome: 'superseded', secret: null });
    expect(w.fake.isActive(token)).toBe(true);
    expect((await connectionRow(again)).status).toBe('active');
    await w.release(again.userId, again.provider);
  });

  it('lets a deregistration under way end before the user connects again, so that it does not end the new grant', async () => {
    const c = await link('whoop');
    const calls = w.fake.callsTo('whoop', 'deregister').length;
    // Whoop takes its time over the deregistration; the user connects again meanwhile.
    w.fake.failNext('whoop', 'deregister', { delayMs: 1_500 });
    expect((await disconnect(c)).status).toBe(204);
    await until('the deregistration to reach Whoop', () => w.fake.callsTo('whoop', 'deregister').length > calls, 10_000, 20);
    const again = await link('whoop', c.userId);
    const token = await accessTokenOf(again);
    await drain();
    const [job] = await jobsFor(c.id);
    expect({ status: job.status, outcome: job.outcome, attempts: job.attempts }).toEqual({ status: 'done', outcome: 'deregistered', attempts: 1 });
    // The old grant ended at Whoop before the new one was made: the new token still works there.
    expect(w.fake.isActive(token)).toBe(true);
    expect((await connectionRow(again)).status).toBe('active');
    await w.release(again.userId, again.provider);
  });

  it('keeps a deregistration waiting for its retry from starting while the user connects again; it then finds the connection linked again', async () => {
    const c = await link('strava');
    w.fake.failNext('strava', 'deregister', { status: 503 });
    await w.release(c.userId, c.provider);
    // Due at once from now on, as if its retry were due while the user connects again.
    await w.t.query(`UPDATE jobs SET run_at = now() WHERE payload->>'connection_id' = $1`, [c.id]);
    const again = await link('strava', c.userId);
    let [job] = await jobsFor(c.id);
    expect({ status: job.status, attempts: job.attempts, later: job.run_at.getTime() > Date.now() + 10_000 }).toEqual({ status: 'pending', attempts: 1, later: true });
    await drain();
    [job] = await jobsFor(c.id);
    expect(job.attempts).toBe(1);
    await w.t.query(`UPDATE jobs SET run_at = now() WHERE payload->>'connection_id' = $1`, [c.id]);
    await drain();
    [job] = await jobsFor(c.id);
    expect({ status: job.status, outcome: job.outcome, attempts: job.attempts }).toEqual({ status: 'done', outcome: 'superseded', attempts: 2 });
    expect(w.fake.isActive(await accessTokenOf(again))).toBe(true);
    await w.release(again.userId, again.provider);
  });

  it('deregisters every connection of a deleted user', async () => {
    const garmin = await link('garmin');
    const strava = await link('strava', garmin.userId);
    const tokens = [await accessTokenOf(garmin), await accessTokenOf(strava)];
    expect((await w.api('delete', `/api/v1/users/${garmin.userId}`)).status).toBe(204);
    expect(await w.t.query('SELECT id FROM connections WHERE user_id = $1', [garmin.userId])).toEqual([]);
    await drain();
    for (const token of tokens) expect(w.fake.isActive(token)).toBe(false);
    for (const c of [garmin, strava]) expect((await jobsFor(c.id)).map((job) => [job.status, job.secret])).toEqual([['done', null]]);
  });
});

describe('POST /webhooks/providers/garmin/{token}', () => {
  it('revokes the connection of each deregistered user (provider_deregistered), tells Garmin nothing back, and ignores a repeat', async () => {
    const c = await link('garmin');
    const calls = w.fake.callsTo('garmin', 'deregister').length;
    const notice = { deregistrations: [{ userId: FAKE_ACCOUNTS.garmin.userId, userAccessToken: 'ignored' }] };
    const res = await notify('garmin', GARMIN_TOKEN, notice);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({});
    await drain();
    const row = await connectionRow(c);
    expect({ status: row.status, reason: row.status_reason, access: row.access_token }).toEqual({ status: 'revoked', reason: 'provider_deregistered', access: null });
    expect(w.fake.callsTo('garmin', 'deregister').length).toBe(calls);
    expect(revoked.filter((event) => event.connection_id === c.id).map((event) => event.reason)).toEqual(['provider_deregistered']);
    expect((await w.connectionsOf(c.userId))[0].status).toBe('revoked');

    // Garmin retries notices: the same one again changes nothing.
    expect((await notify('garmin', GARMIN_TOKEN, notice)).status).toBe(200);
    await drain();
    expect(await connectionRow(c)).toEqual(row);
    expect(revoked.filter((event) => event.connection_id === c.id)).toHaveLength(1);
  });

  it("replaces a connection's scope on userPermissionsChange", async () => {
    const c = await link('garmin');
    expect((await connectionRow(c)).scope).toBe(GARMIN_PERMISSIONS.join(' '));
    const res = await notify('garmin', GARMIN_TOKEN, {
      userPermissionsChange: [{ userId: FAKE_ACCOUNTS.garmin.userId, summaryId: 'x1', permissions: ['ACTIVITY_EXPORT'], changeTimeInSeconds: 1_765_000_000 }],
    });
    expect(res.status).toBe(200);
    await drain();
    expect((await w.connectionsOf(c.userId))[0]).toMatchObject({ status: 'active', scope: 'ACTIVITY_EXPORT' });
    await w.release(c.userId, c.provider);
  });

  it('answers 404 for a wrong or unset token, and 400 for a body that is no notice', async () => {
    for (const [provider, token] of [
      ['garmin', STRAVA_TOKEN],
      ['garmin', `${GARMIN_TOKEN}x`],
      ['polar', GARMIN_TOKEN],
      ['fitbitt', GARMIN_TOKEN],
    ]) {
      const res = await notify(provider, token, { deregistrations: [] });
      expect(res.status, `${provider}/${token}`).toBe(404);
      expect(res.body).toEqual({ detail: 'Not found' });
    }
    for (const body of [[], { deregistrations: 'x' }, { deregistrations: [{ userId: { id: 'x' } }] }, { userPermissionsChange: [{ userId: 'a' }] }]) {
      const res = await notify('garmin', GARMIN_TOKEN, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.detail).toContain('not a garmin notice');
    }
    const tooMany = { deregistrations: Array.from({ length: 1001 }, (_, i) => ({ userId: `u${i}` })) };
    expect((await notify('garmin', GARMIN_TOKEN, tooMany)).status).toBe(400);
    // An account nobody here holds: accepted, and nothing changes.
    expect((await notify('garmin', GARMIN_TOKEN, { deregistrations: [{ userId: 'nobody-here' }] })).status).toBe(200);
    await drain();
  });
});

describe('/webhooks/providers/strava/{token}', () => {
  const validation = (token: string, query: Record<string, string>) => request(w.t.server).get(`/webhooks/providers/strava/${token}`).query(query);

  it("answers Strava's subscription validation with its challenge only for our verify token", async () => {
    const ok = await validation(STRAVA_TOKEN, { 'hub.mode': 'subscribe', 'hub.verify_token': STRAVA_VERIFY, 'hub.challenge': '15f7d1a91c1f40f8a748fd134752feb3' });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ 'hub.challenge': '15f7d1a91c1f40f8a748fd134752feb3' });
    const wrong = await validation(STRAVA_TOKEN, { 'hub.mode': 'subscribe', 'hub.verify_token': `${STRAVA_VERIFY}x`, 'hub.challenge': 'abc' });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(wrong.body)).not.toContain(STRAVA_VERIFY);
    expect((await validation(GARMIN_TOKEN, { 'hub.mode': 'subscribe', 'hub.verify_token': STRAVA_VERIFY, 'hub.challenge': 'abc' })).status).toBe(404);
    expect((await request(w.t.server).get(`/webhooks/providers/garmin/${GARMIN_TOKEN}`)).status).toBe(404);
  });

  it('revokes the connection of an athlete who deauthorized the app; other events change nothing', async () => {
    const c = await link('strava');
    const event = (updates: Record<string, string>, objectType = 'athlete') => ({
      aspect_type: 'update',
      event_time: 1_765_000_000,
      object_id: FAKE_ACCOUNTS.strava.id,
      object_type: objectType,
      owner_id: FAKE_ACCOUNTS.strava.id,
      subscription_id: 120475,
      updates,
    });
    expect((await notify('strava', STRAVA_TOKEN, event({ title: 'Morning run' }, 'activity'))).status).toBe(200);
    await drain();
    expect((await connectionRow(c)).status).toBe('active');

    expect((await notify('strava', STRAVA_TOKEN, event({ authorized: 'false' }))).status).toBe(200);
    await drain();
    const row = await connectionRow(c);
    expect({ status: row.status, reason: row.status_reason, access: row.access_token }).toEqual({ status: 'revoked', reason: 'provider_deregistered', access: null });
    expect((await notify('strava', STRAVA_TOKEN, { object_type: 'athlete' })).status).toBe(400);
  });
});

describe('/webhooks/providers/withings/{token}', () => {
  const FORM = 'application/x-www-form-urlencoded';
  const USERID = String(FAKE_ACCOUNTS.withings.userid);
  /** A notification as Withings posts it: form-encoded fields. */
  const notification = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
  const user = (action: string, userid = USERID) => notification({ userid, appli: '46', startdate: '1765000000', enddate: '1765000000', date: '2025-12-06', action });
  const notifyForm = (token: string, body: string, contentType = FORM) =>
    request(w.t.server).post(`/webhooks/providers/withings/${token}`).set('content-type', contentType).send(body);
  const noticeJobs = () => w.t.query<JobRow>(`SELECT * FROM jobs WHERE kind = $1 AND payload->>'provider' = 'withings' ORDER BY created_at`, [PROVIDER_NOTICE_JOB]);

  it('answers an unlink at once with 200 and revokes, in the background, the connection of that userid (provider_deregistered), announced as connection.revoked', async () => {
    // Another user's Withings connection, to another Withings account (the fake has one; a Withings
    // account is connected for one user at a time), and the same user's Garmin connection: untouched.
    const other = await link('withings');
    await w.t.query(`UPDATE connections SET provider_user_id = '364' WHERE id = $1`, [other.id]);
    const c = await link('withings');
    const garmin = await link('garmin', c.userId);
    const calls = w.fake.callsTo('withings', 'deregister').length;

    // The notice's job is held until the answer is in: the answer does not wait for it.
    const handler = w.t.app.get(ProviderNoticeHandler);
    const run = handler.run.bind(handler);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const spy = vi.spyOn(handler, 'run').mockImplementationOnce(async (job) => {
      await held;
      return run(job);
    });
    try {
      const res = await notifyForm(WITHINGS_TOKEN, user('unlink'));
      expect(res.status, res.text).toBe(200);
      expect(res.body).toEqual({});
      expect((await connectionRow(c)).status).toBe('active');
      const [job] = (await noticeJobs()).slice(-1);
      expect(job.payload).toEqual({ provider: 'withings', notices: [{ kind: 'deauthorized', providerUserId: USERID }] });
    } finally {
      release();
    }
    await drain();
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    expect((await noticeJobs()).slice(-1).map((job) => [job.status, job.outcome])).toEqual([['done', 'applied']]);
    const row = await connectionRow(c);
    expect({ status: row.status, reason: row.status_reason, access: row.access_token, refresh: row.refresh_token }).toEqual({
      status: 'revoked',
      reason: 'provider_deregistered',
      access: null,
      refresh: null,
    });
    expect(revoked.filter((event) => event.connection_id === c.id).map((event) => [event.provider, event.reason])).toEqual([['withings', 'provider_deregistered']]);
    expect((await w.connectionsOf(c.userId)).map((connection) => [connection.provider, connection.status]).sort()).toEqual([
      ['garmin', 'active'],
      ['withings', 'revoked'],
    ]);
    expect((await connectionRow(garmin)).status).toBe('active');
    expect((await connectionRow(other)).status).toBe('active');
    expect(revoked.filter((event) => event.connection_id === other.id)).toEqual([]);
    // Withings ended the grant: nothing is sent back to it.
    expect(w.fake.callsTo('withings', 'deregister').length).toBe(calls);

    // Withings retries notices it thinks were lost: the same one again is 200 and changes nothing.
    const again = await notifyForm(WITHINGS_TOKEN, user('unlink'));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({});
    await drain();
    expect(await connectionRow(c)).toEqual(row);
    expect(revoked.filter((event) => event.connection_id === c.id)).toHaveLength(1);
    expect((await noticeJobs()).slice(-1).map((job) => [job.status, job.outcome])).toEqual([['done', 'nothing_to_change']]);
    await w.release(garmin.userId, garmin.provider);
  });

  it("revokes on a deleted account (action=delete) too; a userid nobody here holds is 200 and changes nothing", async () => {
    const c = await link('withings');
    // A charset parameter is the same form.
    expect((await notifyForm(WITHINGS_TOKEN, user('delete'), `${FORM}; charset=UTF-8`)).status).toBe(200);
    await drain();
    const row = await connectionRow(c);
    expect({ status: row.status, reason: row.status_reason, access: row.access_token }).toEqual({ status: 'revoked', reason: 'provider_deregistered', access: null });
    expect(revoked.filter((event) => event.connection_id === c.id).map((event) => event.reason)).toEqual(['provider_deregistered']);

    const d = await link('withings');
    const before = await connectionRow(d);
    const events = revoked.length;
    const unknown = await notifyForm(WITHINGS_TOKEN, user('unlink', '987654321'));
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({});
    await drain();
    expect((await noticeJobs()).slice(-1).map((job) => [job.status, job.outcome])).toEqual([['done', 'nothing_to_change']]);
    expect(await connectionRow(d)).toEqual(before);
    expect(revoked).toHaveLength(events);
    await w.release(d.userId, d.provider);
  });

  it('accepts a data notification (appli=1) and a profile update with 200, writing no job and changing nothing', async () => {
    const c = await link('withings');
    const before = await connectionRow(c);
    const jobs = (await noticeJobs()).length;
    for (const body of [
      notification({ userid: USERID, appli: '1', startdate: '1765000000', enddate: '1765003600' }),
      notification({ userid: USERID, appli: '16', startdate: '1765000000', enddate: '1765003600', date: '2025-12-06', deviceid: 'a1b2c3' }),
      user('update'),
    ]) {
      const res = await notifyForm(WITHINGS_TOKEN, body);
      expect(res.status, body).toBe(200);
      expect(res.body).toEqual({});
    }
    await drain();
    expect(await noticeJobs()).toHaveLength(jobs);
    expect(await connectionRow(c)).toEqual(before);
    await w.release(c.userId, c.provider);
  });

  it("answers Withings' HEAD check of the callback URL (and a GET) with 200 for the right token; 404 for a wrong one", async () => {
    const head = await request(w.t.server).head(`/webhooks/providers/withings/${WITHINGS_TOKEN}`);
    expect(head.status).toBe(200);
    expect(head.text ?? '').toBe('');
    const get = await request(w.t.server).get(`/webhooks/providers/withings/${WITHINGS_TOKEN}`);
    expect(get.status).toBe(200);
    expect(get.body).toEqual({});
    // The HEAD is Fastify's, through the GET route: Strava's validation answers it as it answers a GET.
    expect((await request(w.t.server).head(`/webhooks/providers/strava/${STRAVA_TOKEN}`)).status).toBe(400);
    for (const token of [`${WITHINGS_TOKEN}x`, GARMIN_TOKEN, STRAVA_TOKEN]) {
      expect((await request(w.t.server).head(`/webhooks/providers/withings/${token}`)).status, token).toBe(404);
      const wrong = await request(w.t.server).get(`/webhooks/providers/withings/${token}`);
      expect(wrong.status).toBe(404);
      expect(wrong.body).toEqual({ detail: 'Not found' });
    }
    // Withings' token is for Withings only.
    expect((await request(w.t.server).head(`/webhooks/providers/garmin/${WITHINGS_TOKEN}`)).status).toBe(404);
  });

  it('answers a notice with a wrong token 404, changing nothing', async () => {
    const c = await link('withings');
    const before = await connectionRow(c);
    for (const token of [`${WITHINGS_TOKEN}x`, GARMIN_TOKEN, STRAVA_TOKEN]) {
      const res = await notifyForm(token, user('unlink'));
      expect(res.status, token).toBe(404);
      expect(res.body).toEqual({ detail: 'Not found' });
    }
    const garmin = await request(w.t.server).post(`/webhooks/providers/garmin/${WITHINGS_TOKEN}`).send({ deregistrations: [] });
    expect(garmin.status).toBe(404);
    await drain();
    expect(await connectionRow(c)).toEqual(before);
    await w.release(c.userId, c.provider);
  });

  it('answers a body that is not a Withings notification 400 {"detail"}: a bad userid, appli or action, a field twice, the body rules', async () => {
    const jobs = (await noticeJobs()).length;
    for (const [body, detail] of [
      [notification({ userid: 'abc', appli: '46', action: 'unlink' }), 'not a withings notice'],
      [notification({ appli: '46', action: 'unlink' }), 'not a withings notice'],
      [notification({ userid: USERID, appli: 'user', action: 'unlink' }), 'not a withings notice'],
      [notification({ userid: USERID, action: 'unlink' }), 'not a withings notice'],
      [user('revoke'), 'not a withings notice'],
      [notification({ userid: USERID, appli: '46' }), 'not a withings notice'],
      ['', 'not a withings notice'],
      [`${user('unlink')}&userid=364`, 'more than once'],
      [`__proto__=x&${user('unlink')}`, '__proto__'],
      [`${user('unlink')}&deviceid=a%00b`, 'NUL'],
    ]) {
      const res = await notifyForm(WITHINGS_TOKEN, body);
      expect(res.status, body).toBe(400);
      expect(Object.keys(res.body)).toEqual(['detail']);
      expect(res.body.detail, body).toContain(detail);
    }
    // JSON is still read (as for every provider), but a number is not Withings' form field.
    const json = await request(w.t.server).post(`/webhooks/providers/withings/${WITHINGS_TOKEN}`).send({ userid: 363, appli: 46, action: 'unlink' });
    expect(json.status).toBe(400);
    expect(json.body.detail).toContain('not a withings notice');
    // Within the body limit of every route.
    const large = await notifyForm(WITHINGS_TOKEN, `${user('unlink')}&pad=${'p'.repeat(1024 * 1024)}`);
    expect(large.status).toBe(413);
    expect(Object.keys(large.body)).toEqual(['detail']);
    expect(await noticeJobs()).toHaveLength(jobs);
  });

  it('reads a form body on no other route: 415 there as before (404 where no route is)', async () => {
    const form = (method: 'post' | 'put' | 'delete', path: string) =>
      request(w.t.server)[method](path).set('x-api-key', ADMIN_KEY).set('content-type', FORM).send(user('unlink'));
    const userId = await w.createUser();
    for (const [method, path] of [
      ['post', `/webhooks/providers/garmin/${GARMIN_TOKEN}`],
      ['post', `/webhooks/providers/strava/${STRAVA_TOKEN}`],
      ['post', '/api/v1/users'],
      ['post', `/api/v1/users/${userId}/connect-sessions`],
      ['put', `/api/v1/users/${userId}/connections/withings`],
      ['delete', `/api/v1/users/${userId}/connections/withings`],
    ] as const) {
      const res = await form(method, path);
      expect(res.status, `${method} ${path}`).toBe(415);
      expect(res.body).toEqual({ detail: 'Content-Type must be application/json' });
    }
    expect(await w.connectionsOf(userId)).toEqual([]);
    const nowhere = await form('post', `/webhooks/providers/withings/${WITHINGS_TOKEN}/more`);
    expect(nowhere.status).toBe(404);
    expect(nowhere.body.detail).toMatch(/^Route POST .* not found$/);
  });
});

describe('wrong tokens at /webhooks/providers/…', () => {
  it('count against the address like failed authentications: past the limit 429 with Retry-After, while the right token is still served', async () => {
    const limited = await startConnectWorld({ providers: ['garmin'], providerEnv: { GARMIN_WEBHOOK_TOKEN: GARMIN_TOKEN }, authFailureLimitPerMinute: 3 });
    try {
      const post = (token: string) => request(limited.t.server).post(`/webhooks/providers/garmin/${token}`).send({ deregistrations: [] });
      for (const token of ['guess-1', 'guess-2', `${GARMIN_TOKEN}x`]) expect((await post(token)).status, token).toBe(404);
      const blocked = await post('guess-4');
      expect(blocked.status).toBe(429);
      expect(blocked.body.detail).toMatch(/^Too many requests with a wrong token from this address; retry after \d+ s$/);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      expect((await request(limited.t.server).get('/webhooks/providers/strava/guess-5')).status).toBe(429);
      // Garmin's own notices still arrive from that address.
      expect((await post(GARMIN_TOKEN)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
