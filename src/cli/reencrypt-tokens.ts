import 'reflect-metadata';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';
import { ConfigError, loadConfig } from '../config/app.config.js';
import { TokenCipher, tokenContext } from '../crypto/token-cipher.js';
import { resolveTokenKey } from '../crypto/token-key-file.js';
import { dataSourceOptions } from '../database/data-source-options.js';
import { EmbeddedPostgres } from '../database/embedded-postgres.js';

const BATCH = 500;
const FIELDS = ['access_token', 'refresh_token'] as const;

interface TokenRow {
  id: string;
  user_id: string;
  provider: string;
  access_token: string | null;
  refresh_token: string | null;
}

/**
 * Moves every stored provider token to the current TOKEN_ENCRYPTION_KEY, reading older ones with
 * TOKEN_ENCRYPTION_KEYS_OLD. A plaintext value (from before encryption) is encrypted too.
 * Each row is updated only if it still holds what was read, so a concurrent write is never undone.
 */
export async function reencryptTokens(pool: Pool, cipher: TokenCipher): Promise<{ rewritten: number; current: number }> {
  let rewritten = 0;
  let current = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const { rows } = await pool.query<TokenRow>(
      `SELECT id, user_id, provider, access_token, refresh_token FROM connections
        WHERE id > $1 AND (access_token IS NOT NULL OR refresh_token IS NOT NULL) ORDER BY id LIMIT ${BATCH}`,
      [after],
    );
    if (rows.length === 0) return { rewritten, current };
    for (const row of rows) {
      const next = { ...row };
      for (const field of FIELDS) {
        const value = row[field];
        if (value === null) continue;
        if (cipher.isCurrent(value)) {
          current += 1;
          continue;
        }
        const context = tokenContext(row.user_id, row.provider, field);
        const plaintext = value.startsWith('v1.') ? cipher.decrypt(value, context) : value;
        next[field] = cipher.encrypt(plaintext, context);
      }
      if (next.access_token === row.access_token && next.refresh_token === row.refresh_token) continue;
      const { rowCount } = await pool.query(
        `UPDATE connections SET access_token = $2, refresh_token = $3
          WHERE id = $1 AND access_token IS NOT DISTINCT FROM $4 AND refresh_token IS NOT DISTINCT FROM $5`,
        [row.id, next.access_token, next.refresh_token, row.access_token, row.refresh_token],
      );
      if (rowCount) rewritten += FIELDS.filter((field) => next[field] !== row[field]).length;
    }
    after = rows[rows.length - 1].id;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const cipher = new TokenCipher(resolveTokenKey(config), config.tokenEncryptionKeysOld);
  const embedded = config.databaseUrl ? undefined : await EmbeddedPostgres.start(config.dataDir);
  const dataSource = new DataSource(dataSourceOptions(config.databaseUrl ?? embedded!.url));
  try {
    await dataSource.initialize();
    const pool = (dataSource.driver as PostgresDriver).master as Pool;
    const { rewritten, current } = await reencryptTokens(pool, cipher);
    process.stdout.write(`Re-encrypted ${rewritten} token(s) with the current key; ${current} were already current.\n`);
  } finally {
    await dataSource.destroy();
    await embedded?.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof ConfigError ? 'Configuration error' : 'Failed'}: ${(error as Error).message}\n`);
    process.exit(1);
  });
}
