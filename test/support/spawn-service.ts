import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileService, ROOT } from './compile-service.js';
import { freshPostgresDatabase } from './test-app.js';

/** A TCP port nothing listens on at the moment (on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** The status of one GET on a socket of its own (no keep-alive), or undefined when it could not connect. */
function statusOf(port: number, path: string): Promise<number | undefined> {
  return new Promise((done) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode));
      res.on('error', () => done(res.statusCode));
    });
    req.on('error', () => done(undefined));
  });
}

export interface SpawnedService {
  child: ChildProcess;
  port: number;
  /** Its working directory: empty at start, no .env file. */
  workDir: string;
  /** The fresh PostgreSQL database it runs on when DATABASE_URL is set; undefined on the embedded one. */
  databaseUrl?: string;
  /** The environment it was started with. */
  env: Record<string, string>;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Its exit code, once it has exited. */
  exited: Promise<number | null>;
  /** SIGKILLs it and waits until it exited; its data stays, for a service started with `sameDataAs`. */
  kill(): Promise<void>;
  /** Kills it if it still runs, drops its database and removes its working directory (unless a later service took them over). */
  stop(): Promise<void>;
}

/** What a service leaves to clean up once stopped; handed over to the one started on its data. */
const cleanups = new WeakMap<SpawnedService, { drop?: () => Promise<void>; dirs: string[] }>();

/**
 * The compiled service, built into dist/test-builds/<name> (a build of its own, incremental, so that
 * it races neither `npm run build` nor other test files), started on a free port from an empty
 * directory with nothing of this process's environment but PATH, plus `env`. On a fresh database of
 * its own (and a token key) when DATABASE_URL is set; else on the embedded one, with its data in the
 * working directory's `data` when `dataDir`. Resolves once GET /health/live answers 200.
 */
export async function spawnService(
  name: string,
  env: Record<string, string>,
  options: { dataDir?: boolean; sameDataAs?: SpawnedService } = {},
): Promise<SpawnedService> {
  const buildDir = join(ROOT, 'dist', 'test-builds', name);
  await compileService(buildDir);
  const workDir = mkdtempSync(join(tmpdir(), `wc-${name}-`));
  const port = await freePort();
  const fullEnv: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: workDir, PORT: String(port), HOST: '127.0.0.1', ...env };
  let dropDatabase: (() => Promise<void>) | undefined;
  const dirs = [workDir];
  const previous = options.sameDataAs;
  if (previous) {
    // On the database (and with the token key) of a service that ran before: its cleanup is ours now.
    const handed = cleanups.get(previous)!;
    cleanups.set(previous, { dirs: [] });
    dropDatabase = handed.drop;
    dirs.push(...handed.dirs);
    for (const key of ['DATABASE_URL', 'TOKEN_ENCRYPTION_KEY', 'DATA_DIR']) if (previous.env[key]) fullEnv[key] = previous.env[key];
  } else if (process.env.DATABASE_URL) {
    const database = await freshPostgresDatabase(process.env.DATABASE_URL);
    dropDatabase = database.drop;
    fullEnv.DATABASE_URL = database.url;
    fullEnv.TOKEN_ENCRYPTION_KEY = randomBytes(32).toString('base64');
  } else if (options.dataDir) {
    fullEnv.DATA_DIR = join(workDir, 'data');
  }
  const child = spawn(process.execPath, [join(buildDir, 'src/main.js')], { cwd: workDir, env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  const service: SpawnedService = {
    child,
    port,
    workDir,
    databaseUrl: fullEnv.DATABASE_URL,
    env: fullEnv,
    output: () => output,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
    async stop() {
      await service.kill();
      const { drop, dirs: left } = cleanups.get(service)!;
      cleanups.set(service, { dirs: [] });
      await drop?.();
      for (const dir of left) rmSync(dir, { recursive: true, force: true });
    },
  };
  cleanups.set(service, { drop: dropDatabase, dirs });
  // Listening once /health/live answers; the caller's hook timeout bounds the wait.
  for (;;) {
    if (child.exitCode !== null) {
      await service.stop();
      throw new Error(`The service exited with ${child.exitCode} at start-up:\n${output}`);
    }
    if ((await statusOf(port, '/health/live')) === 200) return service;
    await new Promise((done) => setTimeout(done, 200));
  }
}
