import { ConflictException, Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { BackgroundConfig } from '../config/background.config.js';
import { ConnectionsService, type RefreshClaim, type Refresher, type RefreshOutcome } from '../connections/connections.service.js';
import { type Provider, PROVIDERS } from '../connections/providers.js';
import { ProviderError, ProviderNotConfiguredError } from '../providers/provider-error.js';
import { ProvidersService } from '../providers/providers.service.js';
import type { RefreshAttemptOutcome } from './refresh-attempt.entity.js';
import { type RefreshAttemptRow, RefreshAttemptsRepository } from './refresh-attempts.repository.js';

export const REFRESH_OPTIONS = Symbol('REFRESH_OPTIONS');

/** The provider has no refresh grant (Polar's tokens are long-lived; Coros extends its own). */
export class NoRefreshGrantError extends ConflictException {
  constructor(readonly provider: Provider) {
    super(`${provider} has no refresh grant: its tokens are not refreshed`);
  }
}
export type RefreshOptions = BackgroundConfig['refresh'];

/** The name the refresher's timer is registered under in @nestjs/schedule's SchedulerRegistry. */
export const REFRESH_WORKER = 'refresh.worker';
/** Above this share of its time busy, the process refreshes one connection at a time. */
const BUSY_UTILIZATION = 0.8;
/** A provider that is not configured here is looked at again after this. */
const NOT_CONFIGURED_RETRY_MS = 3_600_000;

/**
 * Keeps OAuth connections alive: every REFRESH_INTERVAL_SECONDS, the connections whose access token
 * lapses within REFRESH_AHEAD_SECONDS and that hold a refresh token are refreshed through their
 * provider's adapter, at most REFRESH_CONCURRENCY at a time per instance, until none is due. Instances
 * share the work through the connections' leases (ConnectionsService.claimDueRefreshes). A failure
 * that may pass (no answer, a timeout, 5xx, 429, any refusal other than invalid_grant) leaves the
 * status as it is and is retried after REFRESH_RETRY_DELAYS_SECONDS (or the provider's Retry-After,
 * if longer); a refresh token rejected twice (invalid_grant) makes the connection expired, reason
 * refresh_failed. Every attempt is recorded (RefreshAttemptsRepository), never a token.
 */
@Injectable()
export class RefreshService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RefreshService.name);
  private readonly running = new Set<Promise<void>>();
  private pass: Promise<void> | undefined;
  private stopped = false;
  private loopSample = performance.eventLoopUtilization();
  private behind = false;

  constructor(
    private readonly connections: ConnectionsService,
    private readonly providers: ProvidersService,
    private readonly attempts: RefreshAttemptsRepository,
    private readonly scheduler: SchedulerRegistry,
    @Inject(REFRESH_OPTIONS) private readonly options: RefreshOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.scheduler.addInterval(
      REFRESH_WORKER,
      setInterval(() => void this.refreshDue(), this.options.intervalSeconds * 1000),
    );
  }

  /** Stops looking, and waits (up to a minute) for the refreshes under way; the leases of any left lapse by themselves. */
  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.scheduler.doesExist('interval', REFRESH_WORKER)) this.scheduler.deleteInterval(REFRESH_WORKER);
    await Promise.race([Promise.allSettled([this.pass, ...this.running]), new Promise((resolve) => setTimeout(resolve, 60_000).unref())]);
  }

  /**
   * One pass: refreshes every due connection, REFRESH_CONCURRENCY at a time, until none is left; a
   * pass already under way is joined. Resolves with how many this pass claimed.
   */
  refreshDue(): Promise<number> {
    if (!this.pass) {
      let claimed = 0;
      this.pass = this.runPass((n) => (claimed += n)).finally(() => (this.pass = undefined));
      return this.pass.then(() => claimed);
    }
    return this.pass.then(() => 0);
  }

  /**
   * Refreshes one connection now, whatever its expiry (an operator's or a consumer's request), as the
   * background refresher would: racing refreshes in any instance still refresh once. Throws
   * ConnectionNotFoundError, ConnectionNotActiveError (revoked), ProviderNotConfiguredError,
   * NoRefreshGrantError, or the ProviderError of a failure that may pass.
   */
  async refreshNow(connectionId: string): Promise<RefreshOutcome> {
    const { id, provider } = await this.connections.get(connectionId);
    if (!this.providers.refreshes(provider)) throw new NoRefreshGrantError(provider);
    try {
      const outcome = await this.connections.refreshTokens(id, this.refresherFor(provider));
      await this.record(id, outcome, null);
      return outcome;
    } catch (error) {
      if (error instanceof ProviderError || error instanceof ProviderNotConfiguredError) await this.recordFailure(id, error, null);
      throw error;
    }
  }

  /** The connection's last attempts, newest first (at most 20). */
  history(connectionId: string): Promise<RefreshAttemptRow[]> {
    return this.attempts.list(connectionId);
  }

  private async runPass(count: (n: number) => void): Promise<void> {
    const excluded = PROVIDERS.filter((provider) => !this.providers.refreshes(provider));
    try {
      for (;;) {
        const free = this.concurrencyNow() - this.running.size;
        if (!this.stopped && free > 0) {
          const claims = await this.connections.claimDueRefreshes(this.options.aheadSeconds, free, excluded);
          count(claims.length);
          const soon = Date.now() + (this.options.aheadSeconds * 1000) / 2;
          this.behind = claims.some((claim) => claim.expiresAt !== null && claim.expiresAt.getTime() <= soon);
          for (const claim of claims) this.start(claim);
          if (claims.length === free) continue;
        }
        if (this.running.size === 0) return;
        // Wait for a slot; then look again (more may have come due, or been given back).
        await Promise.race(this.running);
      }
    } catch (error) {
      this.logger.warn(`Refresh pass failed: ${(error as Error).message}`);
      await Promise.allSettled([...this.running]);
    }
  }

  /**
   * REFRESH_CONCURRENCY, or one while the process is busy answering requests (its event loop more
   * than BUSY_UTILIZATION busy since the last look) and the refresher is not behind: background work
   * yields to the foreground and still goes on. It is behind once a connection it claimed lapses
   * within half of REFRESH_AHEAD_SECONDS: then it takes its whole concurrency, busy or not, so that
   * yielding never lets a token lapse.
   */
  private concurrencyNow(): number {
    const now = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(now, this.loopSample);
    this.loopSample = now;
    return this.behind || since.utilization <= BUSY_UTILIZATION ? this.options.concurrency : 1;
  }

  private start(claim: RefreshClaim): void {
    const run = this.refreshClaimed(claim).finally(() => this.running.delete(run));
    this.running.add(run);
  }

  private async refreshClaimed(claim: RefreshClaim): Promise<void> {
    let retryAt: Date | null = null;
    try {
      const outcome = await this.connections.refreshClaimed(claim, this.refresherFor(claim.provider), (error) => {
        retryAt = this.retryAt(claim.failures, error);
        return retryAt;
      });
      await this.record(claim.connection_id, outcome, null);
    } catch (error) {
      await this.recordFailure(claim.connection_id, error, retryAt).catch(() => undefined);
      if (!(error instanceof ProviderError || error instanceof ProviderNotConfiguredError)) {
        this.logger.warn(`Refreshing a ${claim.provider} connection failed: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
  }

  /** A Refresher that asks the provider; a refresh token it rejects (invalid_grant) is reported as such. */
  private refresherFor(provider: Provider): Refresher {
    return async (current) => {
      if (!current.refreshToken) return { rejected: true };
      try {
        return await this.providers.refresh(provider, current.refreshToken);
      } catch (error) {
        if (error instanceof ProviderError && error.code === 'refresh_rejected') return { rejected: true };
        throw error;
      }
    };
  }

  /** When to try again after `failures` failures in a row and this error: the schedule's delay, or the provider's Retry-After if longer. */
  private retryAt(failures: number, error: unknown): Date {
    const delays = this.options.retryDelaysSeconds;
    let ms = delays[Math.min(failures, delays.length - 1)] * 1000;
    if (error instanceof ProviderNotConfiguredError) ms = NOT_CONFIGURED_RETRY_MS;
    if (error instanceof ProviderError && error.retryAfterMs !== undefined) ms = Math.max(ms, error.retryAfterMs);
    return new Date(Date.now() + ms);
  }

  private async record(connectionId: string, outcome: RefreshOutcome, retryAt: Date | null): Promise<void> {
    const kind: RefreshAttemptOutcome = outcome.outcome === 'expired' ? 'rejected' : outcome.outcome;
    const error = outcome.outcome === 'expired' ? 'refresh_rejected' : null;
    const detail = outcome.outcome === 'expired' ? 'the provider rejected the refresh token (invalid_grant) twice: the connection is expired' : null;
    await this.attempts.record(connectionId, kind, error, detail, retryAt);
  }

  private async recordFailure(connectionId: string, error: unknown, retryAt: Date | null): Promise<void> {
    if (error instanceof ProviderNotConfiguredError) {
      return this.attempts.record(connectionId, 'not_configured', error.name, error.message, retryAt);
    }
    if (error instanceof ProviderError) {
      const outcome: RefreshAttemptOutcome = error.code === 'provider_unavailable' ? 'transient' : 'failed';
      return this.attempts.record(connectionId, outcome, error.code, error.message, retryAt);
    }
    // Not the provider's doing (the connection went away, the database failed): recorded by class only.
    const name = (error as Error | undefined)?.name ?? 'Error';
    if (name === 'ConnectionNotFoundError') return;
    await this.attempts.record(connectionId, 'failed', name, null, retryAt);
  }
}
