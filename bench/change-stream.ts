/**
 * The webhook scenario's stream of connection changes, in a process of its own so that it does not
 * share a thread with the load generator of the list (bench/webhooks.ts starts it):
 *
 *   node --import tsx bench/change-stream.ts <port> <api key> <rate> <seconds> <users> <phase>
 *
 * PUTs at `rate` per second for `seconds`, each a change of status of one connection to the phase's
 * provider (a provider of its own per phase, so each starts from none): the i-th request goes to user
 * i mod 5,000 (or mod `users` if fewer), and creates the connection in even rounds over those users,
 * revokes it in odd ones. So each records one event, and one connection changes again only 5,000
 * requests later: changes of different connections, not two requests racing for one row (which would
 * measure row-lock waits and the upsert's retries rather than the stream).
 * Prints {requested, perSecond, non2xx} as one JSON line.
 */
import autocannon from 'autocannon';
import { benchUser } from './support.js';

const PROVIDERS = ['garmin', 'strava', 'polar', 'suunto', 'whoop', 'oura', 'fitbit', 'withings', 'coros'];
const [port, apiKey, rate, seconds, users, phase] = process.argv.slice(2);
const SLOTS = Math.min(5000, Number(users));
const PROVIDER = PROVIDERS[Number(phase) % PROVIDERS.length];
let i = 0;

const cpuBefore = process.cpuUsage();
const result = await autocannon({
  url: `http://127.0.0.1:${port}`,
  connections: 16,
  overallRate: Number(rate),
  duration: Number(seconds),
  headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
  requests: [
    {
      method: 'PUT',
      setupRequest: (request: object) => {
        const n = i++;
        const revoked = Math.floor(n / SLOTS) % 2 === 1;
        return {
          ...request,
          path: `/api/v1/users/${benchUser(n % SLOTS)}/connections/${PROVIDER}`,
          body: JSON.stringify(revoked ? { access_token: 'x', status: 'revoked' } : { access_token: `access-${n}` }),
        };
      },
    },
  ],
});
process.stdout.write(`${JSON.stringify({ requested: result.requests.total, perSecond: Math.round(result.requests.average), non2xx: result.non2xx + result.errors, cpuMicros: Object.values(process.cpuUsage(cpuBefore)).reduce((a, b) => a + b, 0) })}\n`);
