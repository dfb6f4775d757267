import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { BackgroundConfig } from '../config/background.config.js';
import { ConnectionNotFoundError } from '../connections/connection.errors.js';
import { ConnectionsService } from '../connections/connections.service.js';
import { DEREGISTRATION_JOB, type DeregistrationPayload } from '../connections/deregistration-job.js';
import { TokenCipher, tokenContext } from '../crypto/token-cipher.js';
import type { ClaimedJob } from '../jobs/jobs.repository.js';
import { type JobResult, JobsService } from '../jobs/jobs.service.js';
import { ProviderError, ProviderNotConfiguredError } from '../providers/provider-error.js';
import { ProvidersService } from '../providers/providers.service.js';

export const DEREGISTRATION_RETRY_DELAYS = Symbol('DEREGISTRATION_RETRY_DELAYS');
export type DeregistrationRetryDelays = BackgroundConfig['deregistrationRetryDelaysSeconds'];

/**
 * Ends the grant at the provider after a disconnect (the DEREGISTRATION_JOB the connections module
 * writes with the revocation): Garmin's user registration deleted, Strava's deauthorize, Polar's user
 * deleted, and so on (each adapter's deregister()). Best effort: no answer, a timeout, 5xx or 429 is
 * retried on DEREGISTRATION_RETRY_DELAYS_SECONDS (or the provider's Retry-After, if longer) for a day;
 * a refusal ends it as failed; the outcome stays on the job. The connection stays revoked whatever the
 * provider answers. A connection linked again in the meantime is not deregistered (for most providers
 * that would end the new grant too); a connect callback holds these jobs back while it makes the new
 * grant (ConnectionsService.beforeNewGrant), so that none is under way at the provider meanwhile.
 */
@Injectable()
export class DeregistrationHandler implements OnModuleInit {
  private readonly logger = new Logger(DeregistrationHandler.name);

  constructor(
    private readonly jobs: JobsService,
    private readonly providers: ProvidersService,
    private readonly connections: ConnectionsService,
    private readonly cipher: TokenCipher,
    @Inject(DEREGISTRATION_RETRY_DELAYS) private readonly delays: DeregistrationRetryDelays,
  ) {}

  onModuleInit(): void {
    this.jobs.handle(DEREGISTRATION_JOB, (job) => this.run(job));
  }

  async run(job: ClaimedJob): Promise<JobResult> {
    const payload = job.payload as unknown as DeregistrationPayload;
    if (!job.secret) return { failed: 'no_token' };
    if (await this.linkedAgain(payload.connection_id)) return { done: 'superseded' };
    const token = this.cipher.decrypt(job.secret, tokenContext(payload.user_id, payload.provider, 'access_token'));
    try {
      const outcome = await this.providers.deregister(payload.provider, token, payload.provider_user_id);
      this.logger.log(`Connection ${payload.connection_id} deregistered at ${payload.provider} (${outcome})`);
      return { done: outcome };
    } catch (error) {
      if (error instanceof ProviderNotConfiguredError) return { failed: 'not_configured', error: error.message };
      if (!(error instanceof ProviderError)) throw error;
      if (error.code !== 'provider_unavailable') {
        this.logger.warn(`Connection ${payload.connection_id}: ${error.message}; not retried`);
        return { failed: error.code, error: error.message };
      }
      const delay = this.delays[Math.min(job.attempts - 1, this.delays.length - 1)] * 1000;
      return { retryInMs: Math.max(delay, error.retryAfterMs ?? 0), outcome: error.code, error: error.message };
    }
  }

  /** Whether the connection is no longer revoked: it was linked again since the disconnect. */
  private async linkedAgain(connectionId: string): Promise<boolean> {
    try {
      return (await this.connections.get(connectionId)).status !== 'revoked';
    } catch (error) {
      if (error instanceof ConnectionNotFoundError) return false; // deleted with its user
      throw error;
    }
  }
}
