/**
 * node --import tsx bench/sender.ts [--sends 30000] [--concurrency 32]
 *
 * The CPU one webhook delivery's send() costs this process: signing, the HTTP request and reading the
 * answer, against a local receiver in a process of its own that answers 200 at once. No database.
 * 5,000 sends to warm up, then `sends`, `concurrency` at a time; prints sends/s and CPU µs per send.
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { send } from '../src/webhooks/webhook-sender.js';

const { values: args } = parseArgs({ options: { sends: { type: 'string', default: '30000' }, concurrency: { type: 'string', default: '32' } } });
const SENDS = Number(args.sends);
const CONCURRENCY = Number(args.concurrency);

const receiver = spawn(process.execPath, ['-e', `
  const server = require('node:http').createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200).end()); });
  server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`], { stdio: ['ignore', 'pipe', 'inherit'] });
const port = await new Promise<number>((resolve) => receiver.stdout!.once('data', (chunk: Buffer) => resolve(Number(String(chunk).trim()))));

const now = new Date().toISOString();
const connection = { id: crypto.randomUUID(), user_id: crypto.randomUUID(), provider: 'garmin', provider_user_id: null, provider_username: null, scope: null, status: 'active', last_synced_at: null, created_at: now, updated_at: now };
const body = JSON.stringify({ id: 'evt_0', type: 'connection.created', created_at: now, data: { connection, reason: 'linked' } });
const secret = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;

async function run(count: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const result = await send({ url: `http://127.0.0.1:${port}/hooks`, eventId: `evt_${started}`, body, secrets: [secret] }, 15_000, true);
      if (!result.ok) throw new Error(`a send failed: ${result.error} ${result.statusCode}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

try {
  await run(5_000);
  const cpu = process.cpuUsage();
  const began = performance.now();
  await run(SENDS);
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - began) / 1000;
  console.log(`${SENDS} sends, ${CONCURRENCY} at a time, in ${seconds.toFixed(1)} s: ${Math.round(SENDS / seconds)}/s; CPU ${Math.round((used.user + used.system) / SENDS)} µs per send (user ${Math.round(used.user / SENDS)}, system ${Math.round(used.system / SENDS)})`);
} finally {
  receiver.kill();
}
