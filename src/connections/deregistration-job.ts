import type { Provider } from './providers.js';

/**
 * The durable work item a disconnect leaves behind (kind DEREGISTRATION_JOB): end the grant at the
 * provider with the access token the connection held, which travels sealed in the job's secret (sealed
 * to the connection's user and provider, as it was stored) and is erased when the job ends. Written in
 * the transaction that revokes the connection; handled by the deauthorization module.
 */
export const DEREGISTRATION_JOB = 'connection.deregister';

export interface DeregistrationPayload {
  connection_id: string;
  user_id: string;
  provider: Provider;
  provider_user_id: string | null;
  /** The connection's token_version once revoked: a later one means it was linked again since. */
  token_version: number;
  /** Why it was disconnected (user_disconnected, user_deleted). */
  reason: string;
}

/** How long a deregistration is retried before it is given up (the connection stays revoked whatever happens). */
export const DEREGISTRATION_RETRY_FOR_MS = 24 * 3_600_000;
