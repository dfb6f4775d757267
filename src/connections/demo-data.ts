import { Inject, Injectable, Logger, type OnApplicationBootstrap, Optional } from '@nestjs/common';
import { UsersService } from '../users/users.service.js';
import { ConnectionsRepository } from './connections.repository.js';

/**
 * The injection token of the DEMO_DATA setting, a boolean: whether to load the spec's example at
 * start-up. The application provides it (`{ provide: DEMO_DATA, useValue: config.demoData }`) from a
 * global module; without it, nothing is loaded.
 */
export const DEMO_DATA = Symbol('DEMO_DATA');

/** The spec's example: one user with garmin, strava and polar connections (no tokens). */
const DEMO_USER_ID = '550e8400-e29b-41d4-a716-446655440000';
const DEMO_USER = { id: DEMO_USER_ID, createdAt: new Date('2023-12-01T09:00:00Z'), updatedAt: new Date('2024-03-15T10:30:00Z') };

const DEMO_CONNECTIONS = [
  ['123e4567-e89b-12d3-a456-426614174000', 'garmin', '9876543210', 'john_runner', 'ACTIVITY_EXPORT HEALTH_EXPORT', 'active',
    '2024-03-15T10:30:00Z', '2024-01-10T08:00:00Z', '2024-03-15T10:30:00Z'],
  ['456e7890-e89b-12d3-a456-426614174001', 'strava', '12345678', null, 'activity:read_all,activity:write', 'active',
    '2024-03-14T22:15:00Z', '2024-02-01T14:30:00Z', '2024-03-14T22:15:00Z'],
  ['789e0123-e89b-12d3-a456-426614174002', 'polar', '87654321', null, 'exercise.read', 'expired',
    '2024-02-20T16:45:00Z', '2023-12-01T09:00:00Z', '2024-02-28T12:00:00Z'],
] as const;

/**
 * Loads the spec's example at start-up when DEMO_DATA is true, once: a user who already exists is
 * left exactly as they are, connections included.
 */
@Injectable()
export class DemoData implements OnApplicationBootstrap {
  private readonly logger = new Logger(DemoData.name);

  constructor(
    private readonly users: UsersService,
    private readonly connections: ConnectionsRepository,
    @Optional() @Inject(DEMO_DATA) private readonly enabled: boolean = false,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.enabled && (await this.load())) this.logger.log(`Loaded the spec's example user ${DEMO_USER_ID} (DEMO_DATA)`);
  }

  /** Loads the example unless its user exists; whether it did. */
  async load(): Promise<boolean> {
    if (!(await this.users.importUser(DEMO_USER))) return false;
    await this.connections.insertImported(
      DEMO_CONNECTIONS.map(([id, provider, providerUserId, providerUsername, scope, status, lastSyncedAt, createdAt, updatedAt]) => ({
        id,
        userId: DEMO_USER_ID,
        provider,
        providerUserId,
        providerUsername,
        scope,
        status,
        lastSyncedAt: new Date(lastSyncedAt),
        createdAt: new Date(createdAt),
        updatedAt: new Date(updatedAt),
      })),
    );
    return true;
  }
}

/** The spec's example response, as this service answers it for the demo user (the OpenAPI document's example). */
export const SPEC_EXAMPLE = DEMO_CONNECTIONS.map(
  ([id, provider, providerUserId, providerUsername, scope, status, lastSyncedAt, createdAt, updatedAt]) => ({
    id,
    user_id: DEMO_USER_ID,
    provider,
    provider_user_id: providerUserId,
    provider_username: providerUsername,
    scope,
    status,
    last_synced_at: lastSyncedAt,
    created_at: createdAt,
    updated_at: updatedAt,
  }),
);
