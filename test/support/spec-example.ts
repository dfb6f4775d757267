export const SPEC_USER_ID = '550e8400-e29b-41d4-a716-446655440000';

/** The example response of the spec (list-user-connections), verbatim: written out, not taken from the service. */
export const SPEC_EXAMPLE = [
  {
    id: '123e4567-e89b-12d3-a456-426614174000',
    user_id: '550e8400-e29b-41d4-a716-446655440000',
    provider: 'garmin',
    provider_user_id: '9876543210',
    provider_username: 'john_runner',
    scope: 'ACTIVITY_EXPORT HEALTH_EXPORT',
    status: 'active',
    last_synced_at: '2024-03-15T10:30:00Z',
    created_at: '2024-01-10T08:00:00Z',
    updated_at: '2024-03-15T10:30:00Z',
  },
  {
    id: '456e7890-e89b-12d3-a456-426614174001',
    user_id: '550e8400-e29b-41d4-a716-446655440000',
    provider: 'strava',
    provider_user_id: '12345678',
    provider_username: null,
    scope: 'activity:read_all,activity:write',
    status: 'active',
    last_synced_at: '2024-03-14T22:15:00Z',
    created_at: '2024-02-01T14:30:00Z',
    updated_at: '2024-03-14T22:15:00Z',
  },
  {
    id: '789e0123-e89b-12d3-a456-426614174002',
    user_id: '550e8400-e29b-41d4-a716-446655440000',
    provider: 'polar',
    provider_user_id: '87654321',
    provider_username: null,
    scope: 'exercise.read',
    status: 'expired',
    last_synced_at: '2024-02-20T16:45:00Z',
    created_at: '2023-12-01T09:00:00Z',
    updated_at: '2024-02-28T12:00:00Z',
  },
];
