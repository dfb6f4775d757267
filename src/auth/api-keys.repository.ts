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

/** A key that authenticates now: what a request needs of it. */
export interface ActiveKeyRow {
  id: string;
  scopes: Scope[];
  expires_at: Date | null;
}

/** A key to store: its hash and label, never the key itself. */
export interface NewApiKey {
  name: string;
  prefix: string;
  keyHash: string;
  scopes: Scope[];
  expiresAt?: Date | null;
}

/** The statements revoke() runs in one transaction. */
export interface ApiKeysTransaction {
  /**
   * The ids of the keys that authenticate today with the admin scope, in id order, locked until the
   * transaction ends: of two transactions asking, the second waits for the first to end.
   */
  lockActiveAdminIds(): Promise<string[]>;
  /** Marks the key revoked (keeping the first revocation's time); whether the key exists. */
  revoke(id: string): Promise<boolean>;
}

const KEY_COLUMNS = 'id, name, prefix, scopes, expires_at, last_used_at, revoked_at, created_at';

/** A key that authenticates today with the admin scope (`k` is the api_keys row). */
const ACTIVE_ADMIN = `'admin' = ANY(k.scopes) AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`;

/** Every statement on `api_keys`. */
@Injectable()
export class ApiKeysRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * The key with this hash if it authenticates now (not revoked, not expired), stamping its
   * `last_used_at` in the same statement: one round trip both authenticates and records the use.
   */
  async useActive(keyHash: string): Promise<ActiveKeyRow | undefined> {
    const [row] = await this.sql.rows<ActiveKeyRow>(
      `UPDATE api_keys SET last_used_at = now()
        WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
        RETURNING id, scopes, expires_at`,
      [keyHash],
    );
    return row;
  }

  async insert(key: NewApiKey): Promise<ApiKeyRow> {
    const [row] = await this.sql.rows<ApiKeyRow>(
      `INSERT INTO api_keys (name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)
       RETURNING ${KEY_COLUMNS}`,
      [key.name, key.prefix, key.keyHash, key.scopes, key.expiresAt ?? null],
    );
    return row;
  }

  /** Inserts the key unless one with its hash exists; whether it did. */
  async insertIfAbsent(key: NewApiKey): Promise<boolean> {
    const rows = await this.sql.rows(
      `INSERT INTO api_keys (name, prefix, key_hash, scopes, expires_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (key_hash) DO NOTHING RETURNING id`,
      [key.name, key.prefix, key.keyHash, key.scopes, key.expiresAt ?? null],
    );
    return rows.length > 0;
  }

  /** Every key, newest first. */
  list(): Promise<ApiKeyRow[]> {
    return this.sql.rows<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id`);
  }

  async count(): Promise<number> {
    const [row] = await this.sql.rows<{ count: number }>(`SELECT count(*)::int AS count FROM api_keys`);
    return row.count;
  }

  /** Whether some key, not revoked and not expired, has the admin scope. */
  async hasActiveAdmin(): Promise<boolean> {
    const rows = await this.sql.rows(`SELECT 1 FROM api_keys k WHERE ${ACTIVE_ADMIN} LIMIT 1`);
    return rows.length > 0;
  }

  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: ApiKeysTransaction) => Promise<T>): Promise<T> {
    return this.sql.transaction((client) =>
      work({
        async lockActiveAdminIds() {
          const { rows } = await client.query<{ id: string }>(`SELECT k.id FROM api_keys k WHERE ${ACTIVE_ADMIN} ORDER BY k.id FOR UPDATE`);
          return rows.map((row) => row.id);
        },
        async revoke(id) {
          const { rows } = await client.query(
            `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id`,
            [id],
          );
          return rows.length > 0;
        },
      }),
    );
  }
}
