import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { isoTime } from '../../common/iso-time.js';
import { type Provider, PROVIDERS } from '../../connections/providers.js';
import { CONNECT_ERRORS, type ConnectError } from '../connect-errors.js';
import type { SessionRow, SessionStatus } from '../connect.repository.js';

const SESSION_STATUSES: SessionStatus[] = ['pending', 'completed', 'failed', 'expired'];

@ApiSchema({ name: 'CreatedConnectSession', description: 'A new connect session, with its link: send the user’s browser to `url`' })
export class CreatedConnectSessionResponse {
  @ApiProperty({ format: 'uuid', example: '0b5b9f3e-6a51-4a8e-9d0c-2f8a4c1d7e21' })
  id: string;

  @ApiProperty({
    format: 'uri',
    description: 'The link for the user’s browser, `{PUBLIC_URL}/connect/{token}`. Its token is shown this once and stored only as a hash.',
    example: 'https://wearables.example.com/connect/q3Zt0b9cV1x5yK7nP2mR8sW4dF6gH1jL0aE3uI9oY5c',
  })
  url: string;

  @ApiProperty({ format: 'date-time', description: 'When the link stops working (CONNECT_SESSION_TTL_SECONDS)', example: '2024-03-15T10:45:00Z' })
  expires_at: string;

  @ApiProperty({ enum: PROVIDERS, isArray: true, description: 'The providers the user may choose from', example: ['strava'] })
  providers: Provider[];
}

@ApiSchema({ name: 'ConnectSession', description: 'A connect session and its outcome, for the consumer’s backend to trust rather than the redirect’s query' })
export class ConnectSessionResponse {
  @ApiProperty({ format: 'uuid', example: '0b5b9f3e-6a51-4a8e-9d0c-2f8a4c1d7e21' })
  id: string;

  @ApiProperty({ format: 'uuid', example: '550e8400-e29b-41d4-a716-446655440000' })
  user_id: string;

  @ApiProperty({
    enum: SESSION_STATUSES,
    description: 'pending: not finished yet; completed: a connection was made; failed: see error; expired: the link lapsed unused',
    example: 'completed',
  })
  status: SessionStatus;

  @ApiProperty({ enum: PROVIDERS, nullable: true, description: 'The provider whose flow finished the session', example: 'strava' })
  provider: Provider | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'The connection made (status completed)', example: '123e4567-e89b-12d3-a456-426614174000' })
  connection_id: string | null;

  @ApiProperty({ enum: CONNECT_ERRORS, nullable: true, description: 'Why the session failed (status failed)', example: null })
  error: ConnectError | null;

  @ApiProperty({ format: 'date-time', example: '2024-03-15T10:45:00Z' })
  expires_at: string;

  @ApiProperty({ format: 'date-time', example: '2024-03-15T10:30:00Z' })
  created_at: string;
}

export function toCreatedConnectSessionResponse(session: SessionRow, url: string): CreatedConnectSessionResponse {
  return { id: session.id, url, expires_at: isoTime(session.expires_at)!, providers: session.providers };
}

export function toConnectSessionResponse(session: SessionRow): ConnectSessionResponse {
  return {
    id: session.id,
    user_id: session.user_id,
    status: session.status,
    provider: session.provider,
    connection_id: session.connection_id,
    error: session.error as ConnectError | null,
    expires_at: isoTime(session.expires_at)!,
    created_at: isoTime(session.created_at)!,
  };
}
