import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyId, TokenCipher, TokenDecryptionError, tokenContext } from './token-cipher.js';

const context = tokenContext('550e8400-e29b-41d4-a716-446655440000', 'garmin', 'access_token');

describe('TokenCipher', () => {
  it('should decrypt what it encrypted, and never store the plaintext', () => {
    const cipher = new TokenCipher(randomBytes(32));
    const sealed = cipher.encrypt('secret-access-token', context);
    expect(sealed).not.toContain('secret-access-token');
    expect(cipher.decrypt(sealed, context)).toBe('secret-access-token');
  });

  it('should carry the version, the key id and a fresh nonce in each value', () => {
    const key = randomBytes(32);
    const cipher = new TokenCipher(key);
    const [a, b] = [cipher.encrypt('same', context), cipher.encrypt('same', context)];
    expect(a.split('.')[0]).toBe('v1');
    expect(a.split('.')[1]).toBe(keyId(key));
    expect(a.split('.')[2]).not.toBe(b.split('.')[2]);
    expect(a).not.toBe(b);
  });

  it('should refuse a value moved to another row or field', () => {
    const cipher = new TokenCipher(randomBytes(32));
    const sealed = cipher.encrypt('token', context);
    expect(() => cipher.decrypt(sealed, tokenContext('550e8400-e29b-41d4-a716-446655440000', 'garmin', 'refresh_token'))).toThrow(
      TokenDecryptionError,
    );
    expect(() => cipher.decrypt(sealed, tokenContext('00000000-0000-0000-0000-000000000000', 'garmin', 'access_token'))).toThrow(
      TokenDecryptionError,
    );
  });

  it('should refuse a tampered value without echoing it', () => {
    const cipher = new TokenCipher(randomBytes(32));
    const parts = cipher.encrypt('token-value', context).split('.');
    parts[3] = Buffer.from('forged-token-value').toString('base64url');
    const forged = parts.join('.');
    expect(() => cipher.decrypt(forged, context)).toThrow(/authentication failed/);
    try {
      cipher.decrypt(forged, context);
    } catch (error) {
      expect((error as Error).message).not.toContain(parts[3]);
    }
  });

  it('should read values of an old key after rotation, and tell them from current ones', () => {
    const oldKey = randomBytes(32);
    const sealedWithOld = new TokenCipher(oldKey).encrypt('token', context);
    const rotated = new TokenCipher(randomBytes(32), [oldKey]);
    expect(rotated.decrypt(sealedWithOld, context)).toBe('token');
    expect(rotated.isCurrent(sealedWithOld)).toBe(false);
    expect(rotated.isCurrent(rotated.encrypt('token', context))).toBe(true);
  });

  it('should name the missing key, not the value, when a key is unknown', () => {
    const sealed = new TokenCipher(randomBytes(32)).encrypt('token', context);
    expect(() => new TokenCipher(randomBytes(32)).decrypt(sealed, context)).toThrow(/TOKEN_ENCRYPTION_KEYS_OLD/);
  });
});
