import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * An embedded PostgreSQL (PGlite, a WASM build of Postgres) served over the real wire protocol on
 * 127.0.0.1, so the application reaches it through the same `pg` driver as a production database.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    private readonly lockFile: string | undefined,
    /** A `postgres://` URL for the `pg` driver. */
    readonly url: string,
  ) {}

  /**
   * Starts the database. With a `dataDir` the data survives restarts; without one it lives in memory.
   * PGlite serves one session at a time, so the server takes one client connection.
   */
  static async start(dataDir?: string): Promise<EmbeddedPostgres> {
    let lockFile: string | undefined;
    if (dataDir) {
      mkdirSync(dataDir, { recursive: true });
      lockFile = join(dataDir, 'pgdata.lock');
      takeLock(lockFile);
    }
    try {
      // Loaded only when used, so that a service on PostgreSQL does not carry PGlite in memory.
      const [{ PGlite }, { pgcrypto }, { PGLiteSocketServer }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('@electric-sql/pglite/contrib/pgcrypto'),
        import('@electric-sql/pglite-socket'),
      ]);
      const db = await PGlite.create({
        dataDir: dataDir ? join(dataDir, 'pgdata') : undefined,
        extensions: { pgcrypto },
      });
      const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
      await server.start();
      return new EmbeddedPostgres(db, server, lockFile, `postgres://postgres@${server.getServerConn()}/postgres`);
    } catch (error) {
      if (lockFile) rmSync(lockFile, { force: true });
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
    if (this.lockFile) rmSync(this.lockFile, { force: true });
  }
}

/** Two processes on one PGlite directory would corrupt it; the lock file holds the owner's pid. */
function takeLock(lockFile: string): void {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number(readFileSync(lockFile, 'utf8'));
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
    throw new Error(`The embedded database in ${lockFile.replace(/pgdata\.lock$/, '')} is in use by process ${owner}`);
  }
  writeFileSync(lockFile, String(process.pid));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
