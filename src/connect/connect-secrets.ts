import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The connect flow's secrets (session tokens, states, flow cookies, PKCE verifiers): 32 random bytes
 * each, 256 bits, written as 43 base64url characters. The first three are stored only as their
 * SHA-256 and looked up by it; a verifier is stored sealed until its one exchange.
 */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** Whether a value could be one of newSecret()'s: anything else is refused before any look-up. */
export function isSecretShaped(value: unknown): value is string {
  return typeof value === 'string' && SECRET.test(value);
}

/** SHA-256 of a secret, hex: what is stored and looked up. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Whether `secret` hashes to `hash`, compared in constant time. */
export function matchesHash(secret: string, hash: string): boolean {
  const computed = Buffer.from(secretHash(secret), 'hex');
  const stored = Buffer.from(hash, 'hex');
  return computed.length === stored.length && timingSafeEqual(computed, stored);
}
