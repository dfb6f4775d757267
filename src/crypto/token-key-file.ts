import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * For the embedded database only: the token encryption key kept beside the data, created on first
 * use with mode 0600. Returns the key and whether it was just created.
 */
export function loadOrCreateKeyFile(dataDir: string): { key: Buffer; created: boolean; path: string } {
  const path = join(dataDir, 'token-encryption.key');
  try {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${path} does not hold 32 bytes in base64`);
    return { key, created: false, path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return { key, created: true, path };
}
