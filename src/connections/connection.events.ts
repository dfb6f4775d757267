import { Logger } from '@nestjs/common';
import type { EventEmitter2 } from '@nestjs/event-emitter';
import type { Provider } from './providers.js';

/** Event names, for `@OnEvent(CONNECTION_EVENTS.revoked)` and the like. */
export const CONNECTION_EVENTS = {
  created: 'connection.created',
  revoked: 'connection.revoked',
  expired: 'connection.expired',
  synced: 'connection.synced',
} as const;

/** Why a connection was revoked or expired, as callers of markRevoked/markExpired give it. */
export const STATUS_REASONS = ['user_disconnected', 'refresh_failed', 'provider_deregistered', 'token_lapsed'] as const;
export type StatusReason = (typeof STATUS_REASONS)[number];

/**
 * The payload of every connection event. It never carries a token. `reason` is a StatusReason for
 * revoked and expired, `user_deleted` when a user's deletion revoked it; for created, `linked` (new),
 * `relinked` (a revoked or expired connection linked again) or `refreshed` (an expired one brought back
 * by refreshTokens); `imported` when the HTTP PUT set a status; and `synced` for synced.
 */
export interface ConnectionEvent {
  connection_id: string;
  user_id: string;
  provider: Provider;
  reason: StatusReason | 'user_deleted' | 'linked' | 'relinked' | 'refreshed' | 'imported' | 'synced';
}

const logger = new Logger('ConnectionEvents');

/** Emits after the change is stored; a listener that throws is logged and does not undo or fail it. */
export function emitConnectionEvent(events: EventEmitter2, name: string, payload: ConnectionEvent): void {
  try {
    events.emit(name, payload);
  } catch (error) {
    logger.error(`A ${name} listener failed: ${(error as Error).message}`);
  }
}
