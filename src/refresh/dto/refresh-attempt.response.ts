import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { ConnectionResponse } from '../../connections/dto/connection-response.js';

const OUTCOMES = ['refreshed', 'already_refreshed', 'transient', 'rejected', 'failed', 'not_configured'];

/** One refresh of a connection and how it went; never a token. */
@ApiSchema({ name: 'RefreshAttempt', description: 'One refresh of a connection (background or requested) and how it went' })
export class RefreshAttemptResponse {
  @ApiProperty({ format: 'date-time', example: '2026-12-04T10:30:00.000Z' })
  attempted_at: string;

  @ApiProperty({
    enum: OUTCOMES,
    description:
      'refreshed: new tokens stored; already_refreshed: another caller or instance refreshed first; transient: no answer, ' +
      'a timeout, 5xx or 429 (retried, status unchanged); rejected: the provider rejected the refresh token twice, the ' +
      'connection is expired (reason refresh_failed); failed: another refusal (retried); not_configured: the provider has ' +
      'no client id and secret here (retried)',
    example: 'refreshed',
  })
  outcome: string;

  @ApiProperty({ type: String, nullable: true, description: 'The failure class: provider_unavailable, refresh_rejected, exchange_failed, …', example: null })
  error: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'What went wrong, in words that hold no token', example: null })
  detail: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When the refresher tries again, after a failure it retries', example: null })
  retry_at: string | null;
}

/** What POST …/refresh answers. */
@ApiSchema({ name: 'RefreshResult' })
export class RefreshResultResponse {
  @ApiProperty({ enum: ['refreshed', 'already_refreshed', 'expired'], example: 'refreshed' })
  outcome: 'refreshed' | 'already_refreshed' | 'expired';

  @ApiProperty({ type: ConnectionResponse })
  connection: ConnectionResponse;
}
