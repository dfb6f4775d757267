import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reencryptTokens } from '../src/cli/reencrypt-tokens.js';
import { keyId, TokenCipher, tokenContext } from '../src/crypto/token-cipher.js';
import { httpHelpers } from './support/http-helpers.js';
import { startTestApp, type TestApp, TOKEN_KEY } from './support/test-app.js';

describe('token key rotation', () => {
  let t: TestApp;
  let pool: Pool;

  beforeAll(async () => {
    t = await startTestApp();
    pool = (t.app.get(DataSource).driver as PostgresDriver).master as Pool;
  });
  afterAll(async () => {
    await t?.close();
  });

  const { createUser, putConnection } = httpHelpers(() => t);

  async function connect(userId: string, provider: string, access: string, refresh?: string) {
    await createUser({ id: userId });
    expect((await putConnection(userId, provider, { access_token: access, refresh_token: refresh })).status).toBe(201);
  }

  async function stored(userId: string) {
    const { rows } = await pool.query<{ provider: string; access_token: string | null; refresh_token: string | null }>(
      'SELECT provider, access_token, refresh_token FROM connections WHERE user_id = $1',
      [userId],
    );
    return rows[0];
  }

  it('should move every token to the new key, keeping old and legacy plaintext values readable', async () => {
    const [userA, userB] = [randomUUID(), randomUUID()];
    const [access, refresh] = [`access-${randomUUID()}`, `refresh-${randomUUID()}`];
    await connect(userA, 'garmin', access, refresh);
    // A row from before tokens were encrypted.
    await connect(userB, 'strava', 'placeholder');
    await pool.query(`UPDATE connections SET access_token = 'legacy-plaintext' WHERE user_id = $1`, [userB]);

    const newKey = randomBytes(32);
    const rotated = new TokenCipher(newKey, [TOKEN_KEY]);
    const first = await reencryptTokens(pool, rotated);
    expect(first.rewritten).toBeGreaterThanOrEqual(3);

    const a = await stored(userA);
    const b = await stored(userB);
    const onlyNewKey = new TokenCipher(newKey);
    for (const value of [a.access_token!, a.refresh_token!, b.access_token!]) {
      expect(value.split('.')[1]).toBe(keyId(newKey));
    }
    expect(onlyNewKey.decrypt(a.access_token!, tokenContext(userA, 'garmin', 'access_token'))).toBe(access);
    expect(onlyNewKey.decrypt(a.refresh_token!, tokenContext(userA, 'garmin', 'refresh_token'))).toBe(refresh);
    expect(onlyNewKey.decrypt(b.access_token!, tokenContext(userB, 'strava', 'access_token'))).toBe('legacy-plaintext');

    const second = await reencryptTokens(pool, rotated);
    expect(second.rewritten).toBe(0);
    expect(second.current).toBeGreaterThanOrEqual(3);
  });

  it('should stop, changing nothing of a row it cannot read, when a value needs a key it was not given', async () => {
    const userId = randomUUID();
    await connect(userId, 'polar', `access-${randomUUID()}`);
    const before = await stored(userId);
    await expect(reencryptTokens(pool, new TokenCipher(randomBytes(32)))).rejects.toThrow(/TOKEN_ENCRYPTION_KEYS_OLD/);
    expect((await stored(userId)).access_token).toBe(before.access_token);
  });
});
