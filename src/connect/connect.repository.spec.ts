/**
 * ConnectRepository against a real, migrated database (embedded, or a fresh one on DATABASE_URL):
 * single use of states and sessions, in sequence and (on PostgreSQL) under races.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RepositoryModule, startRepositoryModule } from '../../test/support/repository-module.js';
import type { Provider } from '../connections/providers.js';
import { ConnectRepository, type NewAttempt } from './connect.repository.js';
import { refusal } from './connect.service.js';
import { newSecret, secretHash } from './connect-secrets.js';

const ON_POSTGRESQL = Boolean(process.env.DATABASE_URL);

let module: RepositoryModule;
let repository: ConnectRepository;
let dataSource: DataSource;

beforeAll(async () => {
  module = await startRepositoryModule({ providers: [ConnectRepository], poolSize: 8 });
  repository = module.moduleRef.get(ConnectRepository);
  dataSource = module.dataSource;
});

afterAll(() => module?.close());

async function newUser(): Promise<string> {
  const id = randomUUID();
  await dataSource.query(`INSERT INTO users (id) VALUES ($1)`, [id]);
  return id;
}

/** A session for a new user; its token's hash and id. */
async function newSession(providers: Provider[] = ['strava'], ttlSeconds = 900) {
  const tokenHash = secretHash(newSecret());
  const session = await repository.insertSession({ userId: await newUser(), tokenHash, returnUrl: 'http://localhost/done', providers, ttlSeconds });
  return { ...session!, tokenHash };
}

/** Adds an attempt; the state's hash, or undefined when the session refused it. */
async function newAttempt(tokenHash: string, provider: Provider = 'strava', overrides: Partial<NewAttempt> = {}) {
  const stateHash = secretHash(newSecret());
  const added = await repository.insertAttempt({
    tokenHash,
    provider,
    stateHash,
    cookieHash: secretHash(newSecret()),
    sealedVerifier: 'v1.sealed-verifier',
    ttlSeconds: 600,
    maxAttempts: 20,
    ...overrides,
  });
  return added ? stateHash : undefined;
}

describe('sessions', () => {
  it('are stored pending, with their expiry, for an existing user only', async () => {
    const userId = await newUser();
    const before = Date.now();
    const session = await repository.insertSession({ userId, tokenHash: secretHash(newSecret()), returnUrl: 'http://localhost/', providers: ['garmin', 'oura'], ttlSeconds: 60 });
    expect(session).toMatchObject({ user_id: userId, status: 'pending', providers: ['garmin', 'oura'], provider: null, connection_id: null, error: null });
    expect(session!.expires_at.getTime() - before).toBeGreaterThan(55_000);
    expect(session!.expires_at.getTime() - before).toBeLessThan(65_000);
    expect(await repository.findSession(session!.id)).toEqual(session);
    expect(await repository.insertSession({ userId: randomUUID(), tokenHash: secretHash(newSecret()), returnUrl: 'http://localhost/', providers: ['garmin'], ttlSeconds: 60 })).toBeNull();
  });

  it('are found by their token’s hash, and read as expired once past their expiry', async () => {
    const session = await newSession(['strava'], 900);
    expect(await repository.findSessionByToken(session.tokenHash)).toEqual({
      id: session.id,
      providers: ['strava'],
      used: false,
      expired: false,
      return_url: 'http://localhost/done',
    });
    await dataSource.query(`UPDATE connect_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [session.id]);
    expect(await repository.findSessionByToken(session.tokenHash)).toMatchObject({ expired: true });
    expect((await repository.findSession(session.id))!.status).toBe('expired');
    expect(await repository.findSessionByToken(secretHash(newSecret()))).toBeUndefined();
  });
});

describe('the connect page’s read', () => {
  it('answers the session with its user’s connections to the session’s providers only, in one statement', async () => {
    const session = await newSession(['strava', 'oura', 'garmin']);
    const userId = session.user_id;
    const insert = (provider: string, status: string, extra = '') =>
      dataSource.query(
        `INSERT INTO connections (user_id, provider, status, access_token, refresh_token, token_expires_at, last_synced_at) VALUES ($1, $2, $3, ${extra || `'sealed', 'sealed', now() + interval '1 hour', '2026-12-01 10:00:00+00'`})`,
        [userId, provider, status],
      );
    await insert('strava', 'active');
    // Lapsed with no refresh token: it reads as expired, as the list shows it.
    await insert('oura', 'active', `'sealed', NULL, now() - interval '1 minute', NULL`);
    await insert('polar', 'active');
    const page = (await repository.findSessionPage(session.tokenHash))!;
    expect(page).toMatchObject({ id: session.id, providers: ['strava', 'oura', 'garmin'], used: false, expired: false });
    expect(page.states.sort((a, b) => a.provider.localeCompare(b.provider))).toEqual([
      { provider: 'oura', status: 'expired', last_synced_at: null },
      { provider: 'strava', status: 'active', last_synced_at: '2026-12-01 10:00:00' },
    ]);
    expect(await repository.findSessionPage(secretHash(newSecret()))).toBeUndefined();
  });
});

describe('attempts', () => {
  it('are added only for a provider the session offers, while it is open, up to the limit', async () => {
    const session = await newSession(['strava', 'oura']);
    expect(await newAttempt(session.tokenHash, 'strava')).toBeDefined();
    expect(await newAttempt(session.tokenHash, 'oura')).toBeDefined();
    expect(await newAttempt(session.tokenHash, 'garmin')).toBeUndefined();
    expect(await newAttempt(secretHash(newSecret()), 'strava')).toBeUndefined();
    expect(await newAttempt(session.tokenHash, 'strava', { maxAttempts: 2 })).toBeUndefined();

    const expired = await newSession();
    await dataSource.query(`UPDATE connect_sessions SET expires_at = now() WHERE id = $1`, [expired.id]);
    expect(await newAttempt(expired.tokenHash)).toBeUndefined();
  });
});

describe('consume', () => {
  it('hands out an attempt once, with its sealed verifier, which it erases; a replay is refused as a used state', async () => {
    const session = await newSession();
    const state = (await newAttempt(session.tokenHash))!;
    const consumed = await repository.consume(state);
    expect(consumed).toMatchObject({ provider: 'strava', code_verifier: 'v1.sealed-verifier', session_id: session.id, user_id: session.user_id, return_url: 'http://localhost/done' });
    const [row] = await dataSource.query(`SELECT code_verifier, used_at FROM connect_attempts WHERE state_hash = $1`, [state]);
    expect(row.code_verifier).toBeNull();
    expect(row.used_at).not.toBeNull();

    expect(await repository.consume(state)).toBeUndefined();
    const refused = (await repository.refused(state))!;
    expect(refused).toMatchObject({ session_id: session.id, attempt_used: true, session_used: true });
    expect(refusal(refused)).toBe('invalid_state');
  });

  it('refuses a second attempt of a claimed session as session_used, and leaves that attempt unused', async () => {
    const session = await newSession(['strava', 'oura']);
    const first = (await newAttempt(session.tokenHash, 'strava'))!;
    const second = (await newAttempt(session.tokenHash, 'oura'))!;
    expect(await repository.consume(first)).toBeDefined();
    expect(await repository.consume(second)).toBeUndefined();
    const refused = (await repository.refused(second))!;
    expect(refused).toMatchObject({ provider: 'oura', attempt_used: false, session_used: true });
    expect(refusal(refused)).toBe('session_used');
  });

  it('refuses the state of an expired session as session_expired, and a lapsed state as invalid_state', async () => {
    const session = await newSession();
    const state = (await newAttempt(session.tokenHash))!;
    await dataSource.query(`UPDATE connect_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [session.id]);
    expect(await repository.consume(state)).toBeUndefined();
    expect(refusal((await repository.refused(state))!)).toBe('session_expired');

    const other = await newSession();
    const lapsed = (await newAttempt(other.tokenHash))!;
    await dataSource.query(`UPDATE connect_attempts SET expires_at = now() - interval '1 second' WHERE state_hash = $1`, [lapsed]);
    expect(await repository.consume(lapsed)).toBeUndefined();
    expect(refusal((await repository.refused(lapsed))!)).toBe('invalid_state');
    expect(await repository.refused(secretHash(newSecret()))).toBeUndefined();
  });

  it('stores the outcome on the session and on its attempt', async () => {
    const session = await newSession();
    const state = (await newAttempt(session.tokenHash))!;
    const consumed = (await repository.consume(state))!;
    const alongside = await repository.finish(consumed.session_id, consumed.attempt_id, { status: 'failed', provider: 'strava', connectionId: null, error: 'access_denied' }, async (exec) => {
      // What runs alongside shares the outcome's transaction: it sees the outcome already stored.
      const result = await exec(`SELECT status FROM connect_sessions WHERE id = $1`, [consumed.session_id]);
      return (result as { status: string }[])[0].status;
    });
    expect(alongside).toBe('failed');
    expect(await repository.findSession(session.id)).toMatchObject({ status: 'failed', provider: 'strava', connection_id: null, error: 'access_denied' });
    const [attempt] = await dataSource.query(`SELECT status, error, completed_at FROM connect_attempts WHERE id = $1`, [consumed.attempt_id]);
    expect(attempt).toMatchObject({ status: 'failed', error: 'access_denied' });
    expect(attempt.completed_at).not.toBeNull();
    expect(await repository.findSessionByToken(session.tokenHash)).toMatchObject({ used: true });
  });

  it.skipIf(!ON_POSTGRESQL)('lets exactly one of racing callbacks through: one state replayed, or two states of one session (PostgreSQL only)', async () => {
    for (let round = 0; round < 5; round++) {
      const session = await newSession(['strava', 'oura']);
      const state = (await newAttempt(session.tokenHash, 'strava'))!;
      const replays = await Promise.all(Array.from({ length: 6 }, () => repository.consume(state)));
      expect(replays.filter(Boolean)).toHaveLength(1);

      const other = await newSession(['strava', 'oura']);
      const states = [(await newAttempt(other.tokenHash, 'strava'))!, (await newAttempt(other.tokenHash, 'oura'))!];
      const claims = await Promise.all([...states, ...states].map((hash) => repository.consume(hash)));
      expect(claims.filter(Boolean)).toHaveLength(1);
    }
  });
});
