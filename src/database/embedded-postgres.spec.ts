import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateKeyFile } from '../crypto/token-key-file.js';
import { EmbeddedPostgres, MAX_SOCKET_PATH_BYTES, SOCKET_NAME } from './embedded-postgres.js';

const ON_LINUX = process.platform === 'linux';
const LINUX_ONLY = ON_LINUX ? '' : ' (skipped: Linux only, it reads /proc/net)';

/** The permission bits of a path. */
const mode = (path: string) => lstatSync(path).mode & 0o777;

/** The TCP sockets this process listens on (Linux: its socket descriptors that /proc/net/tcp* lists in state LISTEN). */
function ownTcpListeners(): Set<string> {
  const listening = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === '0A') listening.add(fields[9]);
    }
  }
  const own = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode && listening.has(inode)) own.add(inode);
  }
  return own;
}

/** The socket's directory, as the `pg` driver reads it from the URL. */
function hostOf(url: string): string {
  return decodeURIComponent(new URL(url).hostname);
}

/** Every path under `dir` (not `dir` itself), with its mode and type. */
function tree(dir: string): { path: string; mode: number; kind: 'dir' | 'file' | 'socket' | 'other' }[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    const kind = entry.isDirectory() ? 'dir' : entry.isFile() ? 'file' : entry.isSocket() ? 'socket' : 'other';
    const self = { path, mode: mode(path), kind } as const;
    return entry.isDirectory() ? [self, ...tree(path)] : [self];
  });
}

async function query(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wc-spec-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(dataDir?: string): Promise<EmbeddedPostgres> {
  const db = await EmbeddedPostgres.start(dataDir);
  cleanup.push(() => db.stop());
  return db;
}

describe('EmbeddedPostgres', () => {
  it.skipIf(!ON_LINUX)(`the TCP listener check sees a TCP server of this process (so the checks below can fail)${LINUX_ONLY}`, async () => {
    const before = ownTcpListeners();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      expect(ownTcpListeners().size).toBe(before.size + 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.skipIf(!ON_LINUX)(`in memory: listens on no TCP port, only on a socket in a private temporary directory removed at stop${LINUX_ONLY}`, async () => {
    const before = ownTcpListeners();
    const db = await start();
    expect(ownTcpListeners(), 'a TCP port was opened').toEqual(before);

    const dir = hostOf(db.url);
    expect(dir.startsWith('/')).toBe(true);
    expect(new URL(db.url).port).toBe('5432');
    expect(db.socketPath).toBe(join(dir, SOCKET_NAME));
    expect(lstatSync(db.socketPath).isSocket()).toBe(true);
    expect(mode(db.socketPath)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);
    expect(readdirSync(dir)).toEqual([SOCKET_NAME]);

    expect(await query(db.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await db.stop();
    expect(existsSync(dir), 'the socket directory is removed at stop').toBe(false);
  });

  it.skipIf(!ON_LINUX)(`with a DATA_DIR: the socket is in it, and it and everything in it is the user’s only, new files included${LINUX_ONLY}`, async () => {
    const dataDir = join(tempDir(), 'data');
    const before = ownTcpListeners();
    const db = await start(dataDir);
    expect(ownTcpListeners(), 'a TCP port was opened').toEqual(before);

    expect(hostOf(db.url)).toBe(dataDir);
    expect(db.socketPath).toBe(join(dataDir, SOCKET_NAME));
    expect(lstatSync(db.socketPath).isSocket()).toBe(true);
    expect(mode(db.socketPath)).toBe(0o600);
    expect(mode(dataDir)).toBe(0o700);

    // Files PGlite creates while it runs (a table's) are private too.
    await query(db.url, 'CREATE TABLE t (x int); INSERT INTO t VALUES (1)');
    const entries = tree(dataDir);
    expect(entries.filter((e) => e.kind === 'file').length).toBeGreaterThan(100);
    expect(entries.filter((e) => e.kind === 'file' && e.mode !== 0o600).map((e) => e.path)).toEqual([]);
    expect(entries.filter((e) => e.kind === 'dir' && e.mode !== 0o700).map((e) => e.path)).toEqual([]);
    expect(entries.filter((e) => e.kind === 'other').map((e) => e.path)).toEqual([]);

    await db.stop();
    expect(existsSync(join(dataDir, SOCKET_NAME)), 'the socket is removed at stop').toBe(false);
    expect(existsSync(join(dataDir, 'pgdata.lock'))).toBe(false);
  });

  it.skipIf(!ON_LINUX)(`makes the files an earlier version left readable by others private, and keeps the data${LINUX_ONLY}`, async () => {
    const dataDir = join(tempDir(), 'data');
    const first = await start(dataDir);
    await query(first.url, 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
    await first.stop();

    // As an earlier version left them: a 0755 directory and 0666 files.
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'pgdata'), 0o755);
    chmodSync(join(dataDir, 'pgdata', 'PG_VERSION'), 0o666);
    chmodSync(join(dataDir, 'pgdata', 'postgresql.conf'), 0o666);

    const second = await start(dataDir);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, 'pgdata'))).toBe(0o700);
    expect(mode(join(dataDir, 'pgdata', 'PG_VERSION'))).toBe(0o600);
    expect(mode(join(dataDir, 'pgdata', 'postgresql.conf'))).toBe(0o600);
    expect(await query(second.url, 'SELECT x FROM kept')).toEqual([{ x: 42 }]);
  });

  it.skipIf(!ON_LINUX)(`restores the umask it set once stopped${LINUX_ONLY}`, async () => {
    const umask = process.umask();
    const db = await start(join(tempDir(), 'data'));
    expect(process.umask() & 0o077).toBe(0o077);
    await db.stop();
    expect(process.umask()).toBe(umask);
  });

  it.skipIf(!ON_LINUX)(`with a DATA_DIR too long for a socket path: the socket goes to a private temporary directory, removed at stop${LINUX_ONLY}`, async () => {
    let dataDir = tempDir();
    while (Buffer.byteLength(join(dataDir, SOCKET_NAME)) <= MAX_SOCKET_PATH_BYTES) dataDir = join(dataDir, 'a-rather-long-directory-name');
    mkdirSync(dataDir, { recursive: true });

    const db = await start(dataDir);
    const socketDir = dirname(db.socketPath);
    expect(hostOf(db.url)).toBe(socketDir);
    expect(socketDir.startsWith(dataDir)).toBe(false);
    expect(mode(socketDir)).toBe(0o700);
    expect(mode(db.socketPath)).toBe(0o600);
    expect(mode(dataDir)).toBe(0o700);
    expect(existsSync(join(dataDir, 'pgdata', 'PG_VERSION')), 'the data is still in DATA_DIR').toBe(true);
    expect(await query(db.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await db.stop();
    expect(existsSync(socketDir)).toBe(false);
  });

  it.skipIf(!ON_LINUX)(`refuses a DATA_DIR another live process holds${LINUX_ONLY}`, async () => {
    const dataDir = join(tempDir(), 'data');
    mkdirSync(dataDir, { recursive: true });
    // PID 1 is alive and is not this process.
    writeFileSync(join(dataDir, 'pgdata.lock'), '1');
    await expect(EmbeddedPostgres.start(dataDir)).rejects.toThrow(/in use by process 1/);
  });
});

describe('the token key file', () => {
  it.skipIf(!ON_LINUX)(`is created 0600 in a 0700 directory, and made 0600 when found readable by others${LINUX_ONLY}`, () => {
    const dataDir = join(tempDir(), 'data');
    const created = loadOrCreateKeyFile(dataDir);
    expect(created.created).toBe(true);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(created.path)).toBe(0o600);

    chmodSync(created.path, 0o644);
    const loaded = loadOrCreateKeyFile(dataDir);
    expect(loaded.created).toBe(false);
    expect(loaded.key.equals(created.key)).toBe(true);
    expect(statSync(created.path).mode & 0o777).toBe(0o600);
  });
});
