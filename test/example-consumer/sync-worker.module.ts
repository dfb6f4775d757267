import { Injectable, Module } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
// What another team would import from the package: its public surface only.
import { CONNECTION_EVENTS, type ConnectionEvent, ConnectionsService } from '../../src/index.js';

export interface ReceivedEvent {
  name: string;
  payload: ConnectionEvent;
}

export interface SyncRecord {
  connectionId: string;
  provider: string;
  accessToken: string;
}

/**
 * A consumer as a sync worker would be written: it pulls data for a user's active connections with
 * their access tokens, stamps each sync, and follows the connection lifecycle through events.
 */
@Injectable()
export class SyncWorker {
  /** Every connection event received, in order. */
  readonly received: ReceivedEvent[] = [];
  /** Every sync performed, with the token it would have called the provider with. */
  readonly syncs: SyncRecord[] = [];

  constructor(readonly connections: ConnectionsService) {}

  async syncUser(userId: string): Promise<SyncRecord[]> {
    const done: SyncRecord[] = [];
    for (const connection of await this.connections.listForUser(userId, { status: 'active' })) {
      const accessToken = await this.connections.getAccessToken(connection.id);
      // (a real worker would call the provider's API here)
      await this.connections.recordSync(connection.id);
      done.push({ connectionId: connection.id, provider: connection.provider, accessToken });
    }
    this.syncs.push(...done);
    return done;
  }

  /** The events received about one user's connections. */
  eventsForUser(userId: string): ReceivedEvent[] {
    return this.received.filter((event) => event.payload.user_id === userId);
  }

  /** The events received about one connection. */
  eventsForConnection(connectionId: string): ReceivedEvent[] {
    return this.received.filter((event) => event.payload.connection_id === connectionId);
  }

  @OnEvent(CONNECTION_EVENTS.created)
  onCreated(payload: ConnectionEvent): void {
    this.record(CONNECTION_EVENTS.created, payload);
  }

  @OnEvent(CONNECTION_EVENTS.revoked)
  onRevoked(payload: ConnectionEvent): void {
    this.record(CONNECTION_EVENTS.revoked, payload);
  }

  @OnEvent(CONNECTION_EVENTS.expired)
  onExpired(payload: ConnectionEvent): void {
    this.record(CONNECTION_EVENTS.expired, payload);
  }

  @OnEvent(CONNECTION_EVENTS.synced)
  onSynced(payload: ConnectionEvent): void {
    this.record(CONNECTION_EVENTS.synced, payload);
  }

  private record(name: string, payload: ConnectionEvent): void {
    // A copy, so that what is recorded is what was delivered.
    this.received.push({ name, payload: { ...payload } });
  }
}

/** No import needed: WearableConnectionsModule.forRoot() is global, so ConnectionsService is injectable anywhere. */
@Module({
  providers: [SyncWorker],
  exports: [SyncWorker],
})
export class SyncWorkerModule {}
