import { hash as digest, randomBytes, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { type ApiKeyRow, ApiKeysRepository, type NewApiKey } from './api-keys.repository.js';
import type { Scope } from './scopes.js';

/** Who a request's key belongs to, and what it may do. */
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

function hashApiKey(key: string): string {
  return digest('sha256', key, 'hex');
}

/**
 * What a key is listed by (the `prefix` column and field): `sha256:` and the first 8 hex digits of
 * the key's SHA-256 hash, so that no character of any key, generated or chosen, is stored or shown.
 * A holder of a key finds it with `printf %s "$KEY" | sha256sum | cut -c1-8`.
 */
function keyLabel(keyHash: string): string {
  return `sha256:${keyHash.slice(0, 8)}`;
}

/** A key to store, by its hash and label. */
function newKey(name: string, key: string, scopes: Scope[], expiresAt: Date | null): NewApiKey {
  const keyHash = hashApiKey(key);
  return { name, prefix: keyLabel(keyHash), keyHash, scopes, expiresAt };
}

/** What revoke() did. */
export type RevokeOutcome = 'revoked' | 'not_found' | 'last_admin_key';

/** API keys: authentication (with its cache), creation, listing, revocation and its last-admin rule. */
@Injectable()
export class ApiKeysService {
  private readonly cache = new Map<string, CachedKey>();
  // Lookups under way, by key hash: requests that miss the cache together share one (see authenticate).
  private readonly lookups = new Map<string, Promise<Principal | null>>();
  // Bumped by every revocation: a lookup that began before one may have read the key as valid, so
  // its answer is not cached.
  private revocations = 0;

  constructor(private readonly keys: ApiKeysRepository) {}

  /**
   * The key's principal, or null for a key that is unknown, revoked or expired.
   * Keys are looked up by their SHA-256 hash, so no comparison runs over the secret itself.
   * A key looked up in the last CACHE_TTL_MS is answered from memory; any other is looked up in the
   * database, once for all the requests that carry it meanwhile: when a busy key's cache entry
   * lapses, its next requests all miss together, and a lookup each would queue them on the same
   * row's lock.
   */
  authenticate(key: string): Promise<Principal | null> {
    const hash = digest('sha256', key, 'buffer');
    const hashHex = hash.toString('hex');
    const cached = this.fromCache(hash, hashHex);
    if (cached !== undefined) return Promise.resolve(cached);
    const now = Date.now();
    const pending = this.lookups.get(hashHex);
    if (pending) return pending;
    const lookup: Promise<Principal | null> = this.lookUp(hash, hashHex, now).finally(() => {
      if (this.lookups.get(hashHex) === lookup) this.lookups.delete(hashHex);
    });
    this.lookups.set(hashHex, lookup);
    return lookup;
  }

  /**
   * The key's principal (or null once it has expired) if a lookup of the last CACHE_TTL_MS found it;
   * undefined when only authenticate() can tell.
   */
  cached(key: string): Principal | null | undefined {
    const hash = digest('sha256', key, 'buffer');
    return this.fromCache(hash, hash.toString('hex'));
  }

  /** cached(), for a key already hashed. */
  private fromCache(hash: Buffer, hashHex: string): Principal | null | undefined {
    const entry = this.cache.get(hashHex);
    const now = Date.now();
    if (!entry || entry.cachedUntil <= now || !timingSafeEqual(entry.hash, hash)) return undefined;
    return entry.expiresAt !== null && entry.expiresAt <= now ? null : entry.principal;
  }

  private async lookUp(hash: Buffer, hashHex: string, now: number): Promise<Principal | null> {
    const revocations = this.revocations;
    const row = await this.keys.useActive(hashHex);
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
    const row = await this.keys.insert(newKey(name, key, scopes, expiresAt));
    return { ...row, key };
  }

  /** Every key, newest first, without its secret. */
  list(): Promise<ApiKeyRow[]> {
    return this.keys.list();
  }

  /** Registers a key chosen by the operator, unless it is registered already. Returns whether it was new. */
  register(name: string, key: string, scopes: Scope[]): Promise<boolean> {
    return this.keys.insertIfAbsent(newKey(name, key, scopes, null));
  }

  count(): Promise<number> {
    return this.keys.count();
  }

  /** Whether some key, not revoked and not expired, has the admin scope. */
  hasActiveAdminKey(): Promise<boolean> {
    return this.keys.hasActiveAdmin();
  }

  /**
   * Revokes a key; it stops working at once in this process. Repeating it is harmless. Refused
   * (`last_admin_key`) for the last active admin key, which would leave no one able to manage keys:
   * the active admin keys are locked, in one order, before they are counted, so that of two
   * revocations of the last two, the second waits for the first and then sees one key left.
   */
  async revoke(id: string): Promise<RevokeOutcome> {
    id = id.toLowerCase();
    const outcome = await this.keys.transaction<RevokeOutcome>(async (tx) => {
      const admins = await tx.lockActiveAdminIds();
      if (admins.length === 1 && admins[0] === id) return 'last_admin_key';
      return (await tx.revoke(id)) ? 'revoked' : 'not_found';
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
