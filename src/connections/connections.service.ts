import { Inject, Injectable } from '@nestjs/common';
import { EventEmitter2, OnEvent } from '@nestjs/event-emitter';
import type { PoolClient } from 'pg';
import { UUID_PATTERN } from '../common/validation.js';
import { JobsService } from '../jobs/jobs.service.js';
import type { SqlExecutor } from '../database/sql.js';
import { TokenCipher, tokenContext } from '../crypto/token-cipher.js';
import { UserNotFoundError } from '../users/user.errors.js';
import { USER_EVENTS, type UserDeletingEvent } from '../users/user.events.js';
import { UsersService } from '../users/users.service.js';
import { WebhookOutbox } from '../webhooks/webhook-outbox.js';
import { AccountInUseError, ConnectionNotActiveError, ConnectionNotFoundError } from './connection.errors.js';
import { CONNECTION_EVENTS, type ConnectionEvent, emitConnectionEvent, type StatusReason } from './connection.events.js';
import {
  type ChangedConnectionRow,
  type ClaimedConnectionRow,
  type ConnectionRow,
  ConnectionsRepository,
  type ConnectionValues,
  type RefreshStateRow,
} from './connections.repository.js';
import { DEREGISTRATION_JOB, DEREGISTRATION_RETRY_FOR_MS, type DeregistrationPayload } from './deregistration-job.js';
import { type ConnectionResponse, toConnectionResponse } from './dto/connection-response.js';
import type { ConnectionStatus, Provider } from './providers.js';

export interface ConnectionFilter {
  status?: ConnectionStatus;
  provider?: Provider;
}

/** What an OAuth grant gives: the tokens, and what is known of the provider's account. */
export interface Grant {
  accessToken: string;
  refreshToken?: string | null;
  /** When the access token lapses. */
  expiresAt?: Date | null;
  scope?: string | null;
  providerUserId?: string | null;
  providerUsername?: string | null;
}

/** A connection as imported from another system (HTTP PUT): a grant with its status and last sync. */
export interface ImportedConnection extends Grant {
  status?: ConnectionStatus;
  lastSyncedAt?: Date | null;
}

/** The tokens a refresher is handed. */
export interface CurrentTokens {
  accessToken: string | null;
  refreshToken: string | null;
  expiresAt: Date | null;
}

/**
 * What a refresher reports: new tokens (a refresh token left undefined keeps the old one), or that
 * the provider rejected the grant. Anything it throws leaves the connection as it was.
 */
export type RefreshResult = { accessToken: string; refreshToken?: string | null; expiresAt?: Date | null } | { rejected: true };
export type Refresher = (current: CurrentTokens) => Promise<RefreshResult>;

export type RefreshOutcome =
  /** This call refreshed the tokens. */
  | { outcome: 'refreshed'; accessToken: string }
  /** A racing call refreshed them while this one waited; its token is returned and nothing was refreshed again. */
  | { outcome: 'already_refreshed'; accessToken: string }
  /**
   * The refresher reported the grant rejected twice (re-read in between, in case a racing caller had
   * rotated the tokens): the connection is now expired (reason refresh_failed), its tokens erased.
   */
  | { outcome: 'expired' };

/** How long one refresh holds a connection's lease (REFRESH_LEASE_SECONDS, from PROVIDER_TIMEOUT_MS). */
export const REFRESH_LEASE_SECONDS = Symbol('REFRESH_LEASE_SECONDS');

/** A connection the background refresher claimed (claimDueRefreshes), to hand to refreshClaimed(). */
export interface RefreshClaim {
  readonly connection_id: string;
  readonly user_id: string;
  readonly provider: Provider;
  /** Background refreshes that failed in a row before this one. */
  readonly failures: number;
  /** When its access token lapses. */
  readonly expiresAt: Date | null;
}

/** How long a caller that finds another one's refresh under way checks again for its outcome. */
const WAIT_STEP_MS = 50;

/**
 * Which wearable providers each user has connected. Other Nest modules use this service; its
 * statuses are true at the moment they are read, and every change of status is announced as a
 * ConnectionEvent (see CONNECTION_EVENTS) once committed, and recorded for the consumer's webhooks
 * (WebhookOutbox) in the change's own transaction. No method returns or logs a token, except getAccessToken
 * and refreshTokens, which exist for that. The statements are ConnectionsRepository's; this class
 * holds the rules (tokens sealed to their connection, a revoked connection holds none, which change
 * is announced how) and the coalescing of refreshes within the process.
 */
@Injectable()
export class ConnectionsService {
  private readonly refreshing = new Map<string, Promise<RefreshOutcome>>();
  private readonly claims = new WeakMap<RefreshClaim, ClaimedConnectionRow>();

  constructor(
    private readonly repository: ConnectionsRepository,
    private readonly cipher: TokenCipher,
    private readonly events: EventEmitter2,
    private readonly users: UsersService,
    private readonly jobs: JobsService,
    private readonly outbox: WebhookOutbox,
    @Inject(REFRESH_LEASE_SECONDS) private readonly leaseSeconds: number,
  ) {}

  /**
   * The user's connections, optionally filtered: the most recently synced first, never-synced last,
   * ties by provider name. A user without connections gets []. Throws UserNotFoundError.
   */
  async listForUser(userId: string, filter: ConnectionFilter = {}): Promise<ConnectionResponse[]> {
    userId = uuidOr(userId, UserNotFoundError);
    const rows = await this.repository.listForUser(userId, filter.status ?? null, filter.provider ?? null);
    if (rows === null) throw new UserNotFoundError();
    return rows.map(toConnectionResponse);
  }

  /**
   * Creates the user's connection to the provider, or reactivates it, with the grant's tokens and
   * scope; it is `active` afterwards. Emits connection.created (reason `linked`, or `relinked` when
   * a revoked or expired connection comes back). Throws UserNotFoundError.
   */
  async link(userId: string, provider: Provider, grant: Grant): Promise<ConnectionResponse> {
    return (await this.upsert(userId, provider, { ...grant, status: 'active' })).connection;
  }

  /**
   * link(), unless the provider account (grant.providerUserId) is already another user's: one of that
   * user's connections to it is active, or expired (a refresh could bring it back); a revoked one holds
   * it for no one. The check and the write are atomic for the account (a transaction holding its
   * advisory lock), so that of links racing for one account, in this process or another, exactly one
   * succeeds. A grant without a providerUserId is linked as link() does, there being nothing to check.
   * Throws AccountInUseError (nothing written), UserNotFoundError.
   */
  async linkExclusive(userId: string, provider: Provider, grant: Grant): Promise<ConnectionResponse> {
    if (!grant.providerUserId) return this.link(userId, provider, grant);
    userId = uuidOr(userId, UserNotFoundError);
    const values = { ...this.sealed(userId, provider, { ...grant, status: 'active' as const }), providerUserId: grant.providerUserId };
    const row = await this.change(
      (client) => this.repository.upsertExclusive(values, client),
      (written) => (written === 'in_use' ? [] : upsertAnnouncements(written)),
    );
    if (row === 'in_use') throw new AccountInUseError();
    return this.written(row).connection;
  }

  /**
   * Before a new grant of the provider is obtained for the user (a connect flow's code exchange): the
   * deregistrations left by the user's disconnect from it wait, so that none runs while the new grant
   * is made (at most providers ending the old grant ends the new one too), and one under way at the
   * provider is waited for (at the longest, its lease). Once the connection is linked again, the jobs
   * held back end as superseded when they run; if no link follows, they deregister as planned.
   */
  async beforeNewGrant(userId: string, provider: Provider): Promise<void> {
    await this.jobs.holdBack(DEREGISTRATION_JOB, { user_id: userId, provider });
  }

  /**
   * Whether the provider account is already another user's, as linkExclusive() judges it, without
   * writing or locking anything: a hint to check before doing what cannot be undone (registering the
   * user at the provider); only linkExclusive()'s own check is atomic with the link.
   */
  async accountHeldByOther(userId: string, provider: Provider, providerUserId: string): Promise<boolean> {
    userId = uuidOr(userId, UserNotFoundError);
    return (await this.repository.findByProviderUser(provider, providerUserId)).some(
      (holder) => holder.user_id !== userId && holder.status !== 'revoked',
    );
  }

  /**
   * Creates or replaces the user's connection to the provider, as imported from another system
   * (the HTTP PUT). Fields left out are cleared, except lastSyncedAt, which is kept. A revoked
   * connection keeps no tokens: with status `revoked`, the tokens given (and their expiry) are not
   * stored. A change of status is announced as link() and the mark methods do; of calls racing to
   * create the same connection, exactly one reports `created`. Throws UserNotFoundError.
   */
  async upsert(
    userId: string,
    provider: Provider,
    connection: ImportedConnection,
  ): Promise<{ connection: ConnectionResponse; created: boolean }> {
    userId = uuidOr(userId, UserNotFoundError);
    const values = this.sealed(userId, provider, connection);
    return this.written(await this.change((client) => this.repository.upsert(values, client), upsertAnnouncements));
  }

  /**
   * Stamps a successful sync (now, unless `at` is given); last_synced_at never moves backwards.
   * Emits connection.synced. Throws ConnectionNotFoundError.
   */
  async recordSync(connectionId: string, at: Date = new Date()): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const row = await this.change(
      (client) => this.repository.recordSync(connectionId, at, client),
      (synced) => (synced ? [{ event: CONNECTION_EVENTS.synced, row: synced, reason: 'synced' }] : []),
    );
    if (!row) throw new ConnectionNotFoundError();
    return toConnectionResponse(row);
  }

  /**
   * Revokes the connection and erases its tokens. Emits connection.revoked with the reason, unless
   * it was revoked already (then nothing changes). With `deregister` (the default for reason
   * user_disconnected), the grant is also ended at the provider, in the background: a durable job
   * written in the same transaction keeps the access token (sealed) until it has run. Not for reason
   * provider_deregistered: the provider ended the grant itself. Throws ConnectionNotFoundError.
   */
  async markRevoked(
    connectionId: string,
    reason: StatusReason,
    { deregister = reason === 'user_disconnected' }: { deregister?: boolean } = {},
  ): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const revoked = await this.change(
      async (client) => {
        const row = await this.repository.revoke(connectionId, reason, client);
        if (deregister && row?.previous_access_token) {
          await this.enqueueDeregistration(row, row.previous_access_token, reason, this.repository.executor(client));
        }
        return row;
      },
      (row) => statusAnnouncement(row, CONNECTION_EVENTS.revoked, reason),
    );
    return this.current(revoked, connectionId);
  }

  /**
   * Replaces the connection's granted scope (a provider told us the user changed the permissions).
   * Throws ConnectionNotFoundError.
   */
  async updateScope(connectionId: string, scope: string | null): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const row = (await this.repository.updateScope(connectionId, scope)) ?? (await this.repository.findById(connectionId));
    if (!row) throw new ConnectionNotFoundError();
    return toConnectionResponse(row);
  }

  /**
   * Marks an active connection expired, keeping its tokens for a refresh. Emits connection.expired
   * with the reason. A revoked or already expired connection is left as it is.
   * Throws ConnectionNotFoundError.
   */
  async markExpired(connectionId: string, reason: StatusReason): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const expired = await this.change(
      (client) => this.repository.expire(connectionId, reason, client),
      (row) => statusAnnouncement(row, CONNECTION_EVENTS.expired, reason),
    );
    return this.current(expired, connectionId);
  }

  /**
   * Disconnects, as the HTTP DELETE does: `revoked` (reason user_disconnected), tokens erased;
   * repeating it changes nothing. Throws UserNotFoundError or ConnectionNotFoundError.
   */
  async disconnect(userId: string, provider: Provider): Promise<ConnectionResponse> {
    return this.markRevoked(await this.idOf(userId, provider), 'user_disconnected');
  }

  /** One connection by its id. Throws ConnectionNotFoundError. */
  async get(connectionId: string): Promise<ConnectionResponse> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const row = await this.repository.findById(connectionId);
    if (!row) throw new ConnectionNotFoundError();
    return toConnectionResponse(row);
  }

  /** The id of the user's connection to the provider. Throws UserNotFoundError or ConnectionNotFoundError. */
  async idOf(userId: string, provider: Provider): Promise<string> {
    userId = uuidOr(userId, UserNotFoundError);
    const id = await this.repository.findId(userId, provider);
    if (id === undefined) throw (await this.users.exists(userId)) ? new ConnectionNotFoundError() : new UserNotFoundError();
    return id;
  }

  /** The connections of a provider's account (usually one), for webhooks that know only the provider's user id. */
  async findByProviderUser(provider: Provider, providerUserId: string): Promise<ConnectionResponse[]> {
    return (await this.repository.findByProviderUser(provider, providerUserId)).map(toConnectionResponse);
  }

  /**
   * The access token of an active connection, decrypted: the only way to read one. Throws
   * ConnectionNotActiveError for a revoked or expired connection, ConnectionNotFoundError for none.
   */
  async getAccessToken(connectionId: string): Promise<string> {
    connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    const row = await this.repository.findAccessToken(connectionId);
    if (!row) throw new ConnectionNotFoundError();
    if (row.status !== 'active' || row.access_token === null) throw new ConnectionNotActiveError(row.status);
    return this.cipher.decrypt(row.access_token, tokenContext(row.user_id, row.provider, 'access_token'));
  }

  /**
   * Refreshes the connection's tokens with `refresher` (which calls the provider). The connection is
   * claimed with a short lease (one statement only one caller wins), the refresher runs with no
   * transaction and no database connection held, and the new tokens, both of them, are stored in one
   * statement that checks the tokens are still those it refreshed, before the access token is returned.
   * Callers racing for one connection, in this process or another, refresh it once: the others wait
   * for that outcome and get its token (`already_refreshed`). A grant the refresher reports rejected
   * is re-read (a racing caller may have rotated it) and tried once more; rejected again, the
   * connection becomes expired (reason refresh_failed), its tokens erased. What the refresher throws
   * leaves the connection as it was and reaches the caller. Throws ConnectionNotFoundError, or
   * ConnectionNotActiveError for a revoked connection.
   */
  refreshTokens(connectionId: string, refresher: Refresher): Promise<RefreshOutcome> {
    try {
      connectionId = uuidOr(connectionId, ConnectionNotFoundError);
    } catch (error) {
      return Promise.reject(error);
    }
    // Callers in this process share one refresh; the lease makes those of other processes wait for it.
    const running = this.refreshing.get(connectionId);
    if (running) {
      return running.then((result) => (result.outcome === 'refreshed' ? { ...result, outcome: 'already_refreshed' } : result));
    }
    const run = this.claimAndRefresh(connectionId, refresher).finally(() => this.refreshing.delete(connectionId));
    this.refreshing.set(connectionId, run);
    return run;
  }

  /**
   * For the background refresher: claims (leases) at most `limit` active connections whose access
   * token lapses within `aheadSeconds` and that hold a refresh token, except those of `excluded`
   * providers and those waiting for a retry. Instances claiming at once never get the same connection.
   */
  async claimDueRefreshes(aheadSeconds: number, limit: number, excluded: readonly Provider[]): Promise<RefreshClaim[]> {
    const rows = await this.repository.claimDue(aheadSeconds, limit, this.leaseSeconds, excluded);
    return rows.map((row) => {
      const claim: RefreshClaim = { connection_id: row.id, user_id: row.user_id, provider: row.provider, failures: row.refresh_failures, expiresAt: row.token_expires_at };
      this.claims.set(claim, row);
      return claim;
    });
  }

  /**
   * Refreshes a connection claimDueRefreshes() claimed, as refreshTokens() does. When the refresher
   * throws, `retryAt(error)` says when to try again (the connection waits until then, its failure
   * count one higher); the error is rethrown.
   */
  refreshClaimed(claim: RefreshClaim, refresher: Refresher, retryAt: (error: unknown) => Date): Promise<RefreshOutcome> {
    const row = this.claims.get(claim);
    if (!row) return Promise.reject(new TypeError('refreshClaimed() takes a claim of claimDueRefreshes()'));
    this.claims.delete(claim);
    const run = this.refreshLeased(row, refresher, retryAt).finally(() => this.refreshing.delete(row.id));
    this.refreshing.set(row.id, run);
    return run;
  }

  /** Claims the lease and refreshes, or waits for the caller that holds it and takes its outcome. */
  private async claimAndRefresh(connectionId: string, refresher: Refresher): Promise<RefreshOutcome> {
    for (;;) {
      const row = await this.repository.claimRefresh(connectionId, this.leaseSeconds);
      if (row) return this.refreshLeased(row, refresher);
      const state = await this.repository.refreshState(connectionId);
      if (!state) throw new ConnectionNotFoundError();
      if (state.status === 'revoked') throw new ConnectionNotActiveError('revoked');
      // Another caller holds the lease: wait until it wrote an outcome, or gave the lease up (then
      // claim it: its refresh failed), or the lease lapsed (its process died).
      const seen = state.token_version;
      let now: RefreshStateRow | undefined = state;
      while (now && now.leased && now.token_version === seen) {
        await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS));
        now = await this.repository.refreshState(connectionId);
      }
      if (!now) throw new ConnectionNotFoundError();
      if (now.token_version !== seen) return this.outcomeOfOther(now);
    }
  }

  private async refreshLeased(row: ClaimedConnectionRow, refresher: Refresher, retryAt?: (error: unknown) => Date): Promise<RefreshOutcome> {
    const context = (field: 'access_token' | 'refresh_token') => tokenContext(row.user_id, row.provider, field);
    const open = (value: string | null, field: 'access_token' | 'refresh_token') => (value === null ? null : this.cipher.decrypt(value, context(field)));
    const current: CurrentTokens = {
      accessToken: open(row.access_token, 'access_token'),
      refreshToken: open(row.refresh_token, 'refresh_token'),
      expiresAt: row.token_expires_at,
    };
    const attempt = async (): Promise<RefreshResult> => {
      try {
        return await refresher(current);
      } catch (error) {
        if (retryAt) await this.repository.deferRefresh(row.id, row.token_version, retryAt(error));
        else await this.repository.releaseRefresh(row.id, row.token_version);
        throw error;
      }
    };

    let result = await attempt();
    if ('rejected' in result) {
      // A caller whose lease lapsed, or a new link, may have replaced the tokens meanwhile: theirs stand.
      const now = await this.repository.refreshState(row.id);
      if (!now) throw new ConnectionNotFoundError();
      if (now.token_version !== row.token_version) return this.outcomeOfOther(now);
      result = await attempt();
    }
    if ('rejected' in result) {
      const expired = await this.change(
        (client) => this.repository.expireRefreshFailed(row.id, row.token_version, client),
        (changed) => (changed && row.effective_status === 'active' ? [{ event: CONNECTION_EVENTS.expired, row: changed, reason: 'refresh_failed' }] : []),
      );
      if (!expired) return this.outcomeOfOther(await this.repository.refreshState(row.id));
      return { outcome: 'expired' };
    }

    const refreshToken = result.refreshToken === undefined ? current.refreshToken : result.refreshToken;
    const sealedAccess = this.cipher.encrypt(result.accessToken, context('access_token'));
    const sealedRefresh = refreshToken ? this.cipher.encrypt(refreshToken, context('refresh_token')) : null;
    const store = (client?: PoolClient) => this.repository.storeRefreshed(row.id, row.token_version, sealedAccess, sealedRefresh, result.expiresAt ?? null, client);
    // An expired connection that a refresh brought back is announced as a re-link; a refresh of an
    // active one changes no status (one statement, no transaction: the refresher's common case).
    const stored =
      row.effective_status === 'active'
        ? await store()
        : await this.change(store, (changed) => (changed ? [{ event: CONNECTION_EVENTS.created, row: changed, reason: 'refreshed' }] : []));
    if (!stored) return this.outcomeOfOther(await this.repository.refreshState(row.id));
    return { outcome: 'refreshed', accessToken: result.accessToken };
  }

  /** What a caller gets when another one wrote the connection's tokens first. */
  private outcomeOfOther(state: RefreshStateRow | undefined): RefreshOutcome {
    if (!state) throw new ConnectionNotFoundError();
    if (state.status === 'revoked') throw new ConnectionNotActiveError('revoked');
    if (state.access_token === null) return { outcome: 'expired' };
    const accessToken = this.cipher.decrypt(state.access_token, tokenContext(state.user_id, state.provider, 'access_token'));
    return { outcome: 'already_refreshed', accessToken };
  }

  /**
   * Stores `expired` on every active connection whose token lapsed with no refresh token; emits
   * connection.expired (reason token_lapsed) for each. ExpirySweep runs it every minute.
   */
  async expireLapsed(): Promise<number> {
    const rows = await this.change(
      (client) => this.repository.sweepLapsed(client),
      (swept) => swept.map((row) => ({ event: CONNECTION_EVENTS.expired, row, reason: 'token_lapsed' as const })),
    );
    return rows.length;
  }

  /**
   * The connections module's part of deleting a user (see UsersService.delete): deletes the user's
   * connections and their tokens in the deletion's transaction, and once it is committed announces
   * connection.revoked (reason user_deleted) for each that was active. Not for direct calls.
   */
  @OnEvent(USER_EVENTS.deleting, { suppressErrors: false })
  async onUserDeleting(event: UserDeletingEvent): Promise<void> {
    const deleted = await this.repository.deleteForUser(event.manager, event.user_id);
    const exec = (text: string, values: unknown[]) => event.manager.query(text, values);
    let recorded = false;
    for (const row of deleted) {
      if (row.access_token) await this.enqueueDeregistration(row, row.access_token, 'user_deleted', exec);
      if (row.status === 'active') {
        const data = { connection: { ...toConnectionResponse(row), status: 'revoked' }, reason: 'user_deleted' };
        recorded = (await this.outbox.record(exec, CONNECTION_EVENTS.revoked, data)) || recorded;
      }
    }
    event.afterCommit(() => {
      if (recorded) this.outbox.wake();
      for (const row of deleted) if (row.status === 'active') this.emit(CONNECTION_EVENTS.revoked, row, 'user_deleted');
    });
  }

  /** Writes the job that ends the grant at the provider, in the caller's transaction (`exec`). */
  private async enqueueDeregistration(
    row: { id: string; user_id: string; provider: Provider; provider_user_id: string | null; token_version: number },
    sealedAccessToken: string,
    reason: string,
    exec: SqlExecutor,
  ): Promise<void> {
    const payload: DeregistrationPayload = {
      connection_id: row.id,
      user_id: row.user_id,
      provider: row.provider,
      provider_user_id: row.provider_user_id,
      token_version: row.token_version,
      reason,
    };
    await this.jobs.enqueue(
      { kind: DEREGISTRATION_JOB, payload: { ...payload }, secret: sealedAccessToken, deadline: new Date(Date.now() + DEREGISTRATION_RETRY_FOR_MS) },
      exec,
    );
  }

  /** What upsert() stores for a connection: its tokens sealed to it, none for a revoked one. */
  private sealed(userId: string, provider: Provider, connection: ImportedConnection): ConnectionValues {
    const status = connection.status ?? 'active';
    const keepsTokens = status !== 'revoked';
    return {
      userId,
      provider,
      accessToken: keepsTokens ? this.cipher.encrypt(connection.accessToken, tokenContext(userId, provider, 'access_token')) : null,
      refreshToken:
        keepsTokens && connection.refreshToken
          ? this.cipher.encrypt(connection.refreshToken, tokenContext(userId, provider, 'refresh_token'))
          : null,
      tokenExpiresAt: keepsTokens ? (connection.expiresAt ?? null) : null,
      providerUserId: connection.providerUserId ?? null,
      providerUsername: connection.providerUsername ?? null,
      scope: connection.scope ?? null,
      status,
      lastSyncedAt: connection.lastSyncedAt ?? null,
    };
  }

  /** An upsert's row (null: no such user), its change of status announced by change(). */
  private written(row: ChangedConnectionRow | null): { connection: ConnectionResponse; created: boolean } {
    if (!row) throw new UserNotFoundError();
    return { connection: toConnectionResponse(row), created: row.previous === null };
  }

  /** The connection after a change: the row the statement changed, or, if nothing changed, as it is. */
  private async current(changed: ConnectionRow | undefined, connectionId: string): Promise<ConnectionResponse> {
    if (changed) return toConnectionResponse(changed);
    const unchanged = await this.repository.findById(connectionId);
    if (!unchanged) throw new ConnectionNotFoundError();
    return toConnectionResponse(unchanged);
  }

  /**
   * Runs a change in one transaction together with its webhook events (the outbox: committed with the
   * change or not at all), then announces it in the process (ConnectionEvent, after the commit).
   */
  private async change<R>(work: (client: PoolClient) => Promise<R>, announce: (result: R) => Announcement[]): Promise<R> {
    let announcements: Announcement[] = [];
    let recorded = false;
    // The records travel with the COMMIT (Sql.transaction): the change and its events in two round trips.
    const result = await this.repository.transaction(
      async (client) => {
        const changed = await work(client);
        announcements = announce(changed);
        return changed;
      },
      (client) => {
        const exec = this.repository.executor(client);
        return announcements.map(({ event, row, reason }) =>
          this.outbox.record(exec, event, { connection: toConnectionResponse(row), reason }).then((any) => {
            recorded ||= any;
          }),
        );
      },
    );
    if (recorded) this.outbox.wake();
    for (const { event, row, reason } of announcements) this.emit(event, row, reason);
    return result;
  }

  private emit(event: string, row: Pick<ConnectionRow, 'id' | 'user_id' | 'provider'>, reason: ConnectionEvent['reason']): void {
    emitConnectionEvent(this.events, event, { connection_id: row.id, user_id: row.user_id, provider: row.provider, reason });
  }
}

/** A change to announce: in the process (ConnectionEvent) and to the consumer's webhooks. */
interface Announcement {
  event: (typeof CONNECTION_EVENTS)[keyof typeof CONNECTION_EVENTS];
  row: ConnectionRow;
  reason: ConnectionEvent['reason'];
}

/** An upsert's change of status, if it made one: created (linked, relinked) or, for an imported status, that status. */
function upsertAnnouncements(row: ChangedConnectionRow | null): Announcement[] {
  if (!row || row.previous === row.status) return [];
  const reason = row.status !== 'active' ? 'imported' : row.previous === null ? 'linked' : 'relinked';
  return [{ event: row.status === 'active' ? CONNECTION_EVENTS.created : CONNECTION_EVENTS[row.status], row, reason }];
}

/** A revoke's or an expiry's announcement, if the statement moved the status. */
function statusAnnouncement(row: ChangedConnectionRow | undefined, event: Announcement['event'], reason: StatusReason): Announcement[] {
  return row && row.previous !== row.status ? [{ event, row, reason }] : [];
}

/**
 * A UUID argument in the one form the database returns and tokens are sealed to (lower case), so that
 * every method answers the same for either case. Anything that is not a UUID names no row: it gets
 * the method's not-found error rather than a database error.
 */
function uuidOr(value: string, notFound: new () => Error): string {
  if (typeof value !== 'string' || !UUID_PATTERN.test(value)) throw new notFound();
  return value.toLowerCase();
}
