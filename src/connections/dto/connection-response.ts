import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { isoTimeFromUtcText } from '../../common/iso-time.js';
import type { ConnectionRow } from '../connections.repository.js';
import { CONNECTION_STATUSES, type ConnectionStatus, type Provider, PROVIDERS } from '../providers.js';

/** A connection as the spec describes it. It has no token field, by construction. */
@ApiSchema({ name: 'Connection', description: "A user's connection to a wearable provider; never its tokens" })
export class ConnectionResponse {
  @ApiProperty({ format: 'uuid', description: 'Unique identifier for the connection', example: '123e4567-e89b-12d3-a456-426614174000' })
  id: string;

  @ApiProperty({ format: 'uuid', description: 'UUID of the user who owns this connection', example: '550e8400-e29b-41d4-a716-446655440000' })
  user_id: string;

  @ApiProperty({ enum: PROVIDERS, description: 'Provider name', example: 'garmin' })
  provider: Provider;

  @ApiProperty({ type: String, nullable: true, description: "The user's ID in the provider's system (if available)", example: '9876543210' })
  provider_user_id: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: "The user's username/display name in the provider's system (if available)",
    example: 'john_runner',
  })
  provider_username: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'OAuth scopes granted for this connection', example: 'ACTIVITY_EXPORT HEALTH_EXPORT' })
  scope: string | null;

  @ApiProperty({
    enum: CONNECTION_STATUSES,
    description:
      'active: valid and usable for data sync; revoked: the user revoked access (or disconnected); ' +
      'expired: the OAuth tokens expired and need refresh. An active connection whose access token lapsed ' +
      'with no refresh token reads as expired from that instant.',
    example: 'active',
  })
  status: ConnectionStatus;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'ISO 8601 timestamp (UTC, Z) of the last successful data sync (null if never synced)',
    example: '2024-03-15T10:30:00Z',
  })
  last_synced_at: string | null;

  @ApiProperty({ format: 'date-time', description: 'ISO 8601 timestamp (UTC, Z) when the connection was created', example: '2024-01-10T08:00:00Z' })
  created_at: string;

  @ApiProperty({ format: 'date-time', description: 'ISO 8601 timestamp (UTC, Z) when the connection was last updated', example: '2024-03-15T10:30:00Z' })
  updated_at: string;
}

export function toConnectionResponse(row: ConnectionRow): ConnectionResponse {
  return {
    id: row.id,
    user_id: row.user_id,
    provider: row.provider,
    provider_user_id: row.provider_user_id,
    provider_username: row.provider_username,
    scope: row.scope,
    status: row.status,
    last_synced_at: isoTimeFromUtcText(row.last_synced_at),
    created_at: isoTimeFromUtcText(row.created_at)!,
    updated_at: isoTimeFromUtcText(row.updated_at)!,
  };
}
