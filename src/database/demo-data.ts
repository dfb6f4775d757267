import type { Sql } from './sql.js';

/** The spec's example: one user with garmin, strava and polar connections (no tokens). */
export const DEMO_USER_ID = '550e8400-e29b-41d4-a716-446655440000';

const DEMO_CONNECTIONS = [
  ['123e4567-e89b-12d3-a456-426614174000', 'garmin', '9876543210', 'john_runner', 'ACTIVITY_EXPORT HEALTH_EXPORT', 'active',
    '2024-03-15T10:30:00Z', '2024-01-10T08:00:00Z', '2024-03-15T10:30:00Z'],
  ['456e7890-e89b-12d3-a456-426614174001', 'strava', '12345678', null, 'activity:read_all,activity:write', 'active',
    '2024-03-14T22:15:00Z', '2024-02-01T14:30:00Z', '2024-03-14T22:15:00Z'],
  ['789e0123-e89b-12d3-a456-426614174002', 'polar', '87654321', null, 'exercise.read', 'expired',
    '2024-02-20T16:45:00Z', '2023-12-01T09:00:00Z', '2024-02-28T12:00:00Z'],
] as const;

/** Loads the example once; a user who already exists is left exactly as they are. */
export async function loadDemoData(sql: Sql): Promise<boolean> {
  const created = await sql.rows(
    `INSERT INTO users (id, created_at, updated_at) VALUES ($1, '2023-12-01T09:00:00Z', '2024-03-15T10:30:00Z')
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [DEMO_USER_ID],
  );
  if (created.length === 0) return false;
  for (const connection of DEMO_CONNECTIONS) {
    await sql.rows(
      `INSERT INTO connections (id, user_id, provider, provider_user_id, provider_username, scope, status,
                                last_synced_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [connection[0], DEMO_USER_ID, ...connection.slice(1)],
    );
  }
  return true;
}

/** The spec's example response, as this service answers it for the demo user. */
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
