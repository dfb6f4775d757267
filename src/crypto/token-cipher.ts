import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export class TokenDecryptionError extends Error {
  constructor(reason: string) {
    // Never carries the value: it is a secret, encrypted or not.
    super(`A stored token could not be decrypted: ${reason}`);
  }
}

/** A short, stable id for a key, derived from it; it reveals nothing usable about the key. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('wearable-connections/token-key-id').update(key).digest('hex').slice(0, 16);
}

/**
 * AES-256-GCM for provider tokens at rest. A stored value reads `v1.<key id>.<nonce>.<ciphertext>.<tag>`
 * (base64url), so it carries its own nonce and the id of the key that sealed it. The associated data
 * binds a value to its row and field, so a ciphertext copied elsewhere does not decrypt.
 */
export class TokenCipher {
  private readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  constructor(current: Buffer, old: Buffer[] = []) {
    if (current.length !== 32) throw new Error('The token encryption key must be 32 bytes');
    this.currentId = keyId(current);
    for (const key of old) this.keys.set(keyId(key), key);
    this.keys.set(this.currentId, current);
  }

  encrypt(plaintext: string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.currentId)!, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.currentId, b64(nonce), b64(sealed), b64(cipher.getAuthTag())].join('.');
  }

  decrypt(value: string, context: string): string {
    const parts = value.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new TokenDecryptionError('not an encrypted value');
    const [, id, nonce, sealed, tag] = parts;
    const key = this.keys.get(id);
    if (!key) throw new TokenDecryptionError(`key ${id} is neither TOKEN_ENCRYPTION_KEY nor in TOKEN_ENCRYPTION_KEYS_OLD`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(sealed, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenDecryptionError('authentication failed');
    }
  }

  /** Whether a stored value is sealed with the current key (false for plaintext or an older key). */
  isCurrent(value: string): boolean {
    return value.startsWith(`${VERSION}.${this.currentId}.`);
  }
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64url');
}

/** The associated data of a token: which user, provider and field it belongs to. */
export function tokenContext(userId: string, provider: string, field: 'access_token' | 'refresh_token'): string {
  return `connections/${userId}/${provider}/${field}`;
}
