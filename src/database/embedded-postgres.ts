import { Buffer } from 'node:buffer';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/**
 * The port in the socket's file name only: PostgreSQL clients look for `<directory>/.s.PGSQL.<port>`.
 * No TCP port is opened.
 */
const SOCKET_PORT = 5432;
export const SOCKET_NAME = `.s.PGSQL.${SOCKET_PORT}`;
/**
 * The longest Unix socket path that binds everywhere: `sun_path` holds 108 bytes on Linux and 104 on
 * macOS, the terminating NUL included.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/** Modes of everything in DATA_DIR: the service's user only. */
const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
const PRIVATE_UMASK = 0o077;

/**
 * An embedded PostgreSQL (PGlite, a WASM build of Postgres) served over the real wire protocol, so
 * the application reaches it through the same `pg` driver as a production database.
 *
 * It listens on a Unix socket only, never on TCP, in a directory no other user may enter:
 * - with a `dataDir`, the socket is `<dataDir>/.s.PGSQL.5432`; `dataDir` and every directory in it is
 *   mode 0700 and every file 0600 (files written before this rule included), and while the database
 *   runs the process umask is 077, so that the files PGlite creates are private too. Should `<dataDir>/.s.PGSQL.5432`
 *   be too long for a socket path (over MAX_SOCKET_PATH_BYTES bytes), the socket goes into a fresh
 *   private temporary directory instead (mkdtemp, mode 0700), removed at stop;
 * - without one (in memory), the socket is always in such a temporary directory.
 * PGlite has no passwords; the directory's mode is what keeps other local users out.
 */
export class EmbeddedPostgres {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    private readonly lockFile: string | undefined,
    /** The socket file. */
    readonly socketPath: string,
    /** A directory made for the socket alone, removed at stop. */
    private readonly socketTempDir: string | undefined,
    private readonly restoreUmask: (() => void) | undefined,
    /** A `postgres://` URL for the `pg` driver: its host is the socket's directory, URL-encoded. */
    readonly url: string,
  ) {}

  /**
   * Starts the database. With a `dataDir` the data survives restarts; without one it lives in memory.
   * PGlite serves one session at a time, so the server takes one client connection.
   */
  static async start(dataDir?: string): Promise<EmbeddedPostgres> {
    let lockFile: string | undefined;
    if (dataDir) {
      makePrivateDirectory(dataDir);
      lockFile = join(dataDir, 'pgdata.lock');
      takeLock(lockFile);
    }
    let socketTempDir: string | undefined;
    let restoreUmask: (() => void) | undefined;
    let db: PGlite | undefined;
    try {
      let socketDir: string;
      if (dataDir && fitsSocketPath(join(dataDir, SOCKET_NAME))) {
        socketDir = dataDir;
        // The lock is ours, so a socket left here is from a process that died without stopping.
        removeStaleSocket(join(dataDir, SOCKET_NAME));
      } else {
        socketTempDir = mkdtempSync(join(tmpdir(), 'wc-pg-'));
        chmodSync(socketTempDir, PRIVATE_DIR);
        socketDir = socketTempDir;
      }
      const socketPath = join(socketDir, SOCKET_NAME);
      if (!fitsSocketPath(socketPath)) {
        throw new Error(
          `The embedded database's socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; ` +
            `set TMPDIR to a shorter directory`,
        );
      }
      if (dataDir) restoreUmask = privateUmask();

      // Loaded only when used, so that a service on PostgreSQL does not carry PGlite in memory.
      const [{ PGlite }, { pgcrypto }, { PGLiteSocketServer }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('@electric-sql/pglite/contrib/pgcrypto'),
        import('@electric-sql/pglite-socket'),
      ]);
      db = await PGlite.create({
        dataDir: dataDir ? join(dataDir, 'pgdata') : undefined,
        extensions: { pgcrypto },
      });
      // PGlite writes the files of a new database with mode 0666 whatever the umask (earlier versions of
      // this service left them so), and those it creates later with 0600 (the umask keeps it so, should
      // that change): make everything private.
      if (dataDir) makePrivateTree(dataDir);
      const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 });
      await server.start();
      chmodSync(socketPath, PRIVATE_FILE);
      const url = `postgres://postgres@${encodeURIComponent(socketDir)}:${SOCKET_PORT}/postgres`;
      return new EmbeddedPostgres(db, server, lockFile, socketPath, socketTempDir, restoreUmask, url);
    } catch (error) {
      await db?.close().catch(() => undefined);
      restoreUmask?.();
      if (socketTempDir) rmSync(socketTempDir, { recursive: true, force: true });
      if (lockFile) rmSync(lockFile, { force: true });
      throw error;
    }
  }

  private stopped = false;

  /** Stops the server and closes the database; a second call does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.server.stop();
    await this.db.close();
    // Node removes a socket file when its server closes; this is for a server that never did.
    rmSync(this.socketPath, { force: true });
    if (this.socketTempDir) rmSync(this.socketTempDir, { recursive: true, force: true });
    this.restoreUmask?.();
    if (this.lockFile) rmSync(this.lockFile, { force: true });
  }
}

function fitsSocketPath(path: string): boolean {
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES;
}

/** Creates the directory if need be and makes it the service user's alone. */
function makePrivateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  try {
    chmodSync(dir, PRIVATE_DIR);
  } catch (error) {
    throw new Error(
      `Cannot make the data directory ${dir} private (mode 0700): ${(error as NodeJS.ErrnoException).code}. ` +
        `It must belong to the user the service runs as`,
    );
  }
}

/** Mode 0700 for every directory and 0600 for every file under `dir`; symbolic links and sockets are left alone. */
function makePrivateTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      chmodSync(path, PRIVATE_DIR);
      makePrivateTree(path);
    } else if (entry.isFile()) {
      chmodSync(path, PRIVATE_FILE);
    }
  }
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) rmSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Sets the umask to keep new files private (077) and returns what restores the previous one. A worker
 * thread cannot set the umask; there the files PGlite creates later rely on the directory's mode.
 */
function privateUmask(): (() => void) | undefined {
  if (!isMainThread) return undefined;
  const previous = process.umask(process.umask() | PRIVATE_UMASK);
  const ours = previous | PRIVATE_UMASK;
  return () => {
    // Only if nothing else changed it meanwhile.
    if (process.umask() === ours) process.umask(previous);
  };
}

/** Two processes on one PGlite directory would corrupt it; the lock file holds the owner's pid. */
function takeLock(lockFile: string): void {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: PRIVATE_FILE });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const owner = Number(readFileSync(lockFile, 'utf8'));
  if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
    throw new Error(`The embedded database in ${lockFile.replace(/pgdata\.lock$/, '')} is in use by process ${owner}`);
  }
  writeFileSync(lockFile, String(process.pid), { mode: PRIVATE_FILE });
  chmodSync(lockFile, PRIVATE_FILE);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
