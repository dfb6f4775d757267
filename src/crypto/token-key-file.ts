import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * For the embedded database only: the token encryption key kept beside the data, created on first
 * use with mode 0600 in a directory of mode 0700 (a key file found readable by others is made 0600).
 * Returns the key and whether it was just created.
 */
export function loadOrCreateKeyFile(dataDir: string): { key: Buffer; created: boolean; path: string } {
  const path = join(dataDir, 'token-encryption.key');
  try {
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32) throw new Error(`${path} does not hold 32 bytes in base64`);
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return { key, created: false, path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  // The mode above is subject to the umask, which only takes bits away; this makes it exact.
  chmodSync(path, 0o600);
  return { key, created: true, path };
}

/**
 * The token encryption key: TOKEN_ENCRYPTION_KEY, or (with the embedded database only, as loadConfig
 * requires the variable otherwise) the key kept in DATA_DIR, created with a warning on first use.
 */
export function resolveTokenKey(config: { tokenEncryptionKey?: Buffer; dataDir: string }): Buffer {
  if (config.tokenEncryptionKey) return config.tokenEncryptionKey;
  const { key, created, path } = loadOrCreateKeyFile(config.dataDir);
  if (created) {
    process.stderr.write(
      `WARNING: TOKEN_ENCRYPTION_KEY is not set, so a key for provider tokens was generated into ${path} (mode 0600). ` +
        `Back it up with the data: tokens cannot be read without it.\n`,
    );
  }
  return key;
}
