/**
 * The expiry sweep as a scheduled job (@nestjs/schedule): registered when the application starts,
 * run by calling the job's method (no waiting for a minute), stopped when the application closes.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { SchedulerRegistry } from '@nestjs/schedule';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONNECTION_EVENTS, type ConnectionEvent } from '../src/connections/connection.events.js';
import { ConnectionsService } from '../src/connections/connections.service.js';
import { EXPIRY_SWEEP, ExpirySweep } from '../src/connections/expiry-sweep.js';
import { UsersService } from '../src/users/users.service.js';
import { startTestApp, type TestApp } from './support/test-app.js';

let t: TestApp | undefined;
let registry: SchedulerRegistry;

beforeAll(async () => {
  t = await startTestApp();
  registry = t.app.get(SchedulerRegistry);
});

afterAll(async () => {
  await t?.close();
});

const app = () => t!.app;
const PAST = new Date('2020-01-01T00:00:00Z');

async function storedStatus(id: string): Promise<{ status: string; status_reason: string | null }> {
  const [row] = await t!.query<{ status: string; status_reason: string | null }>('SELECT status, status_reason FROM connections WHERE id = $1', [id]);
  return row;
}

describe('the expiry sweep', () => {
  it('is registered with the scheduler under its name, every minute', () => {
    expect(registry.getIntervals()).toContain(EXPIRY_SWEEP);
    // Node's Timeout keeps the period of setInterval in _repeat.
    expect((registry.getInterval(EXPIRY_SWEEP) as { _repeat?: number })._repeat).toBe(60_000);
  });

  it('stores expired on the connections that lapsed with no refresh token, and announces each once', async () => {
    const connections = app().get(ConnectionsService);
    const { id: userId } = await app().get(UsersService).create({ id: randomUUID() });
    const lapsed = await connections.link(userId, 'garmin', { accessToken: `a-${randomUUID()}`, refreshToken: null, expiresAt: PAST });
    const refreshable = await connections.link(userId, 'strava', { accessToken: `a-${randomUUID()}`, refreshToken: `r-${randomUUID()}`, expiresAt: PAST });
    const current = await connections.link(userId, 'polar', {
      accessToken: `a-${randomUUID()}`,
      refreshToken: null,
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    expect((await storedStatus(lapsed.id)).status).toBe('active');

    const expired: ConnectionEvent[] = [];
    const listener = (event: ConnectionEvent) => expired.push(event);
    const events = app().get(EventEmitter2);
    events.on(CONNECTION_EVENTS.expired, listener);
    try {
      await app().get(ExpirySweep).run();
      await app().get(ExpirySweep).run();
    } finally {
      events.off(CONNECTION_EVENTS.expired, listener);
    }

    expect(await storedStatus(lapsed.id)).toEqual({ status: 'expired', status_reason: 'token_lapsed' });
    expect((await storedStatus(refreshable.id)).status).toBe('active');
    expect((await storedStatus(current.id)).status).toBe('active');
    expect(expired).toEqual([{ connection_id: lapsed.id, user_id: userId, provider: 'garmin', reason: 'token_lapsed' }]);
  });

  it('logs a failed sweep as a warning and does not throw: the next one tries again', async () => {
    const failing = vi.spyOn(app().get(ConnectionsService), 'expireLapsed').mockRejectedValueOnce(new Error('the database went away'));
    try {
      await expect(app().get(ExpirySweep).run()).resolves.toBeUndefined();
      expect(failing).toHaveBeenCalledTimes(1);
      await vi.waitFor(() => {
        const line = t!.logs.map((l) => JSON.parse(l) as { level: number; msg: string }).find((l) => l.msg?.includes('Expiry sweep failed'));
        expect(line).toMatchObject({ level: 40, msg: 'Expiry sweep failed: the database went away' });
      });
      await expect(app().get(ExpirySweep).run()).resolves.toBeUndefined();
      expect(failing).toHaveBeenCalledTimes(2);
    } finally {
      failing.mockRestore();
    }
  });

  it('stops when the application closes', async () => {
    const closing = t!;
    t = undefined;
    await closing.close();
    expect(registry.getIntervals()).toEqual([]);
  });
});
