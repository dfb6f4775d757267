import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ConnectionsService } from '../connections/connections.service.js';
import type { ClaimedJob } from '../jobs/jobs.repository.js';
import { type JobResult, JobsService } from '../jobs/jobs.service.js';
import { PROVIDER_NOTICE_JOB, type ProviderNoticePayload } from './provider-notices.js';

/**
 * Applies a provider's notice (PROVIDER_NOTICE_JOB): a deauthorization revokes every connection to
 * that provider account (reason provider_deregistered; the provider ended the grant, so nothing is
 * sent back to it), announced as connection.revoked like any other change of status; a change of
 * permissions replaces the connection's scope. Idempotent: a connection revoked already, or a scope
 * that is the same, changes nothing, and an account nobody holds here is skipped.
 */
@Injectable()
export class ProviderNoticeHandler implements OnModuleInit {
  private readonly logger = new Logger(ProviderNoticeHandler.name);

  constructor(
    private readonly jobs: JobsService,
    private readonly connections: ConnectionsService,
  ) {}

  onModuleInit(): void {
    this.jobs.handle(PROVIDER_NOTICE_JOB, (job) => this.run(job));
  }

  async run(job: ClaimedJob): Promise<JobResult> {
    const { provider, notices } = job.payload as unknown as ProviderNoticePayload;
    let changed = 0;
    for (const notice of notices) {
      for (const connection of await this.connections.findByProviderUser(provider, notice.providerUserId)) {
        if (notice.kind === 'deauthorized') {
          if (connection.status === 'revoked') continue;
          await this.connections.markRevoked(connection.id, 'provider_deregistered', { deregister: false });
          this.logger.log(`Connection ${connection.id} revoked: ${provider} reported the user's deauthorization`);
          changed += 1;
        } else if (connection.scope !== notice.scope && connection.status !== 'revoked') {
          await this.connections.updateScope(connection.id, notice.scope);
          changed += 1;
        }
      }
    }
    return { done: changed > 0 ? 'applied' : 'nothing_to_change' };
  }
}
