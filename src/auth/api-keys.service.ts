import { hash as digest, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql.js';
import type { Scope } from './scopes.js';

/** What is known of a key besides its secret. */
export interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
}

const KEY_COLUMNS = 'id, name, prefix, scopes, expires_at, last_used_at, revoked_at, created_at';

export interface Principal {
  keyId: string;
  scopes: Scope[];
}

interface CachedKey {
  principal: Principal;
  hash: Buffer;
  expiresAt: number | null;
  cachedUntil: number;
}

/** How long a successful key lookup is trusted before the database is asked again. */
const CACHE_TTL_MS = 5_000;
const KEY_PREFIX = 'wck_';

export function hashApiKey(key: string): string {
  return digest('sha256', key, 'hex');
}

/**
 * What a key is listed by (the `prefix` column and field): `sha256:` and the first 8 hex digits of
 * the key's SHA-256 hash, so that no character of any key, generated or chosen, is stored or shown.
 * A holder of a key finds it with `printf %s "$KEY" | sha256sum | cut -c1-8`.
 */
export function keyLabel(keyHash: string): string {
  return `sha256:${keyHash.slice(0, 8)}`;
}

/** What revoke() did. */
export type RevokeOutcome = 'revoked' | 'not_found' | 'last_admin_key';

/** A key that authenticates today with the admin scope (`k` is the api_keys row). */
const ACTIVE_ADMIN = `'admin' = ANY(k.scopes) AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`;

@Injectable()
export class ApiKeysService {
  private readonly cache = new Map<string, CachedKey>();
  // Lookups under way, by key hash: requests that miss the cache together share one (see authenticate).
  private readonly lookups = new Map<string, Promise<Principal | null>>();
  // Bumped by every revocation: a lookup that began before one may have read the key as valid, so
  // its answer is not cached.
  private revocations = 0;

  constructor(private readonly sql: Sql) {}

  /**
   * The key's principal, or null for a key that is unknown, revoked or expired.
   * Keys are looked up by their SHA-256 hash, so no comparison runs over the secret itself.
   * A key looked up in the last CACHE_TTL_MS is answered at once, without a promise (the guard asks
   * on every request); any other is looked up in the database, once for all the requests that carry
   * it meanwhile: when a busy key's cache entry lapses, its next requests all miss together, and a
   * lookup each would queue them on the same row's lock.
   */
  authenticate(key: string): Principal | null | Promise<Principal | null> {
    const hash = digest('sha256', key, 'buffer');
    const hashHex = hash.toString('hex');
    const now = Date.now();
    const cached = this.cache.get(hashHex);
    if (cached && cached.cachedUntil > now && timingSafeEqual(cached.hash, hash)) {
      if (cached.expiresAt !== null && cached.expiresAt <= now) return null;
      return cached.principal;
    }
    const pending = this.lookups.get(hashHex);
    if (pending) return pending;
    const lookup: Promise<Principal | null> = this.lookUp(hash, hashHex, now).finally(() => {
      if (this.lookups.get(hashHex) === lookup) this.lookups.delete(hashHex);
    });
    this.lookups.set(hashHex, lookup);
    return lookup;
  }

  private async lookUp(hash: Buffer, hashHex: string, now: number): Promise<Principal | null> {
    const revocations = this.revocations;
    // One round trip both authenticates and records the use.
    const [row] = await this.sql.rows<{ id: string; scopes: Scope[]; expires_at: Date | null }>(
      `UPDATE api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        RETURNING id, scopes, expires_at`,
      [hashHex],
    );
    if (!row) {
      this.cache.delete(hashHex);
      return null;
    }
    const principal: Principal = Object.freeze({ keyId: row.id, scopes: Object.freeze(row.scopes) as Scope[] });
    if (revocations === this.revocations) {
      this.cache.set(hashHex, { principal, hash, expiresAt: row.expires_at?.getTime() ?? null, cachedUntil: now + CACHE_TTL_MS });
    }
    return principal;
  }

  /** Creates a key and returns it with its secret, which is not kept and cannot be shown again. */
  async create(name: string, scopes: Scope[], expiresAt: Date | null = null): Promise<ApiKeyRow & { key: string }> {
    const key = KEY_PREFIX + randomBytes(32).toString('base64url');
    const keyHash = hashApiKey(key);
    const [row] = await this.sql.rows<ApiKeyRow>(
      `INSERT INTO api_keys (name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${KEY_COLUMNS}`,
      [name, keyLabel(keyHash), keyHash, scopes, expiresAt],
    );
    return { ...row, key };
  }

  /** Every key, newest first, without its secret. */
  list(): Promise<ApiKeyRow[]> {
    return this.sql.rows<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`);
  }

  /** Registers a key chosen by the operator, unless it is registered already. Returns whether it was new. */
  async register(name: string, key: string, scopes: Scope[]): Promise<boolean> {
    const keyHash = hashApiKey(key);
    const rows = await this.sql.rows(
      `INSERT INTO api_keys (name, prefix, key_hash, scopes) VALUES ($1, $2, $3, $4)
       ON CONFLICT (key_hash) DO NOTHING RETURNING id`,
      [name, keyLabel(keyHash), keyHash, scopes],
    );
    return rows.length > 0;
  }

  async count(): Promise<number> {
    const [row] = await this.sql.rows<{ count: number }>(`SELECT count(*)::int AS count FROM api_keys`);
    return row.count;
  }

  /** Whether some key, not revoked and not expired, has the admin scope. */
  async hasActiveAdminKey(): Promise<boolean> {
    const rows = await this.sql.rows(`SELECT 1 FROM api_keys k WHERE ${ACTIVE_ADMIN} LIMIT 1`);
    return rows.length > 0;
  }

  /**
   * Revokes a key; it stops working at once in this process. Repeating it is harmless. Refused
   * (`last_admin_key`) for the last active admin key, which would leave no one able to manage keys:
   * the active admin keys are locked, in one order, before the count, so that of two revocations of
   * the last two, the second waits for the first and then sees one key left.
   */
  async revoke(id: string): Promise<RevokeOutcome> {
    id = id.toLowerCase();
    const outcome = await this.sql.transaction<RevokeOutcome>(async (client) => {
      const { rows: admins } = await client.query<{ id: string }>(
        `SELECT k.id FROM api_keys k WHERE ${ACTIVE_ADMIN} ORDER BY k.id FOR UPDATE`,
      );
      if (admins.length === 1 && admins[0].id === id) return 'last_admin_key';
      const { rows } = await client.query(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id`,
        [id],
      );
      return rows.length > 0 ? 'revoked' : 'not_found';
    });
    if (outcome === 'revoked') {
      // Lookups under way may have read the key before it was revoked: later requests start their own.
      this.revocations += 1;
      this.lookups.clear();
      for (const [hash, entry] of this.cache) if (entry.principal.keyId === id) this.cache.delete(hash);
    }
    return outcome;
  }
}
