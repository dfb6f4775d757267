import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import pg from 'pg';

/** The bench scenarios' user ids: the i-th, in the form the seeds write them. */
export const benchUser = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

/** Drops and creates the scenario's database. */
export async function resetDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = url.pathname.slice(1).replace(/"/g, '');
  url.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
}

/** Resolves once `url` answers below 500 (two minutes at most). */
export async function waitFor(url: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not come up`);
}

/** The spec's endpoint under load for `seconds`: 32 connections, each request for a random one of `users`. */
export async function listLoad(port: number, apiKey: string, users: number, seconds: number): Promise<{ requestsPerSecond: number; p99: number; non2xx: number }> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 32,
    duration: seconds,
    headers: { 'x-api-key': apiKey },
    requests: [{ method: 'GET', setupRequest: (request: object) => ({ ...request, path: `/api/v1/users/${benchUser(Math.floor(Math.random() * users))}/connections` }) }],
  });
  return { requestsPerSecond: Math.round(result.requests.average), p99: result.latency.p99, non2xx: result.non2xx + result.errors };
}

/** CPU time (user + system) a process has used, in µs, from /proc (clock ticks of 10 ms). */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/**
 * The CPU time of PostgreSQL on this host, in microseconds: every process named postgres, with the
 * time of those that have exited (a backend whose connection closed) as their parent's cutime/cstime.
 * Only meaningful when the bench's PostgreSQL runs on this host, as it does on these machines.
 */
export function postgresCpuMicros(): number {
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (!stat.includes('(postgres)')) continue;
    const fields = stat.split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks * 10_000;
}

/** The host's CPU time, busy and in all, in clock ticks summed over every core (/proc/stat's first line). */
export function hostTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, value) => sum + value, 0);
  // idle and iowait are not busy.
  return { busy: total - fields[3] - fields[4], total };
}

/** The host's busy share of all its cores between two hostTicks() readings, to two decimals. */
export function hostBusyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  return Number(((after.busy - before.busy) / Math.max(1, after.total - before.total)).toFixed(2));
}

/** The median of the values (the upper one of an even count). */
export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
