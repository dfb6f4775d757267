import { describe, expect, it } from 'vitest';
import type { ConnectionsService, RefreshClaim } from '../connections/connections.service.js';
import { ProviderError } from '../providers/provider-error.js';
import type { ProvidersService } from '../providers/providers.service.js';
import type { RefreshAttemptsRepository } from './refresh-attempts.repository.js';
import { RefreshService } from './refresh.service.js';

const AHEAD_SECONDS = 600;

/** Keeps the event loop busy for `ms`: the process looks as it does while it answers requests flat out. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

/**
 * A refresher over fakes: claimDueRefreshes records the limit it was asked for and hands out claims
 * lapsing at `lapsesIn` from now, two passes' worth; each refresh fails at once (a transient error),
 * which is recorded and retried later, as a provider that does not answer would be.
 */
function refresher(lapsesIn: number) {
  const limits: number[] = [];
  let left = 2;
  const connections = {
    async claimDueRefreshes(_ahead: number, limit: number): Promise<RefreshClaim[]> {
      limits.push(limit);
      if (left-- <= 0) return [];
      return Array.from({ length: limit }, (_, i) => ({
        connection_id: `c-${left}-${i}`,
        user_id: 'u',
        provider: 'whoop' as const,
        failures: 0,
        expiresAt: new Date(Date.now() + lapsesIn),
      }));
    },
    async refreshClaimed(): Promise<never> {
      throw new ProviderError('provider_unavailable', 'whoop', 'whoop did not answer');
    },
  } as unknown as ConnectionsService;
  const providers = { refreshes: () => true } as unknown as ProvidersService;
  const attempts = { record: async () => undefined } as unknown as RefreshAttemptsRepository;
  const service = new RefreshService(connections, providers, attempts, {} as never, {
    intervalSeconds: 60,
    aheadSeconds: AHEAD_SECONDS,
    concurrency: 4,
    retryDelaysSeconds: [60],
  });
  return { service, limits };
}

describe('the refresher under load', () => {
  it('takes its whole concurrency while the process is idle', async () => {
    const { service, limits } = refresher(AHEAD_SECONDS * 1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await service.refreshDue();
    expect(limits[0]).toBe(4);
  });

  it('refreshes one at a time while the process is busy and the due set is not close to lapsing', async () => {
    const { service, limits } = refresher(AHEAD_SECONDS * 1000);
    busy(100);
    await service.refreshDue();
    expect(limits[0]).toBe(1);
  });

  it('takes its whole concurrency again, busy or not, once a claimed connection lapses within half of REFRESH_AHEAD_SECONDS', async () => {
    const { service, limits } = refresher((AHEAD_SECONDS * 1000) / 4);
    busy(100);
    await service.refreshDue();
    // The first claim was made busy (one); it showed the set is behind, so the next filled the other three slots.
    expect(limits.slice(0, 2)).toEqual([1, 3]);
  });
});
