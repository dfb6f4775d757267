/**
 * The floor: a bare node:http + pg server that answers GET /api/v1/users/{id}/connections exactly as
 * the service does (same SQL, same JSON, same X-API-Key check against a SHA-256 hash), with no
 * framework. Nothing can be faster than this on the same database, so it is what the service is
 * measured against.
 *
 *   DATABASE_URL=... FLOOR_API_KEY=... PORT=... tsx bench/floor.ts
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import pg from 'pg';

const PATH = /^\/api\/v1\/users\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/connections$/i;
const STATUS = `CASE WHEN c.status = 'active' AND c.refresh_token IS NULL AND c.token_expires_at <= now()
  THEN 'expired' ELSE c.status END`;
const LIST = `
  SELECT c.id, c.user_id, c.provider, c.provider_user_id, c.provider_username, c.scope, ${STATUS} AS status,
         c.last_synced_at, c.created_at, c.updated_at
    FROM users u LEFT JOIN connections c ON c.user_id = u.id
   WHERE u.id = $1
   ORDER BY c.last_synced_at DESC NULLS LAST, c.provider`;

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_SIZE ?? 10) });
const keyHash = createHash('sha256').update(process.env.FLOOR_API_KEY ?? '').digest();

const iso = (d: Date | null) => {
  if (!d) return null;
  const s = d.toISOString();
  return s.endsWith('.000Z') ? `${s.slice(0, -5)}Z` : s;
};

function send(res: import('node:http').ServerResponse, status: number, body: unknown) {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

const server = createServer(async (req, res) => {
  const key = req.headers['x-api-key'];
  if (typeof key !== 'string' || !timingSafeEqual(createHash('sha256').update(key).digest(), keyHash)) {
    return send(res, 401, { detail: 'Invalid or missing API key' });
  }
  const match = req.method === 'GET' ? PATH.exec(req.url ?? '') : null;
  if (!match) return send(res, 404, { detail: 'Not found' });
  try {
    const { rows } = await pool.query({ name: 'list', text: LIST, values: [match[1].toLowerCase()] });
    if (rows.length === 0) return send(res, 404, { detail: 'User not found' });
    if (rows[0].id === null) return send(res, 200, []);
    send(
      res,
      200,
      rows.map((r) => ({
        id: r.id,
        user_id: r.user_id,
        provider: r.provider,
        provider_user_id: r.provider_user_id,
        provider_username: r.provider_username,
        scope: r.scope,
        status: r.status,
        last_synced_at: iso(r.last_synced_at),
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
      })),
    );
  } catch {
    send(res, 503, { detail: 'Database unavailable' });
  }
});

server.listen(Number(process.env.PORT ?? 3900), '127.0.0.1', () => process.stdout.write('floor listening\n'));
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
