import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Compiles the service into `outDir` (a folder of the test's own, so that parallel tests and
 * `npm run build` do not overwrite each other's output). Its entry point is `outDir/src/main.js`.
 */
export async function compileService(outDir: string): Promise<void> {
  await promisify(execFile)(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir, '--tsBuildInfoFile', join(outDir, '.tsbuildinfo')],
    { cwd: ROOT },
  ).catch((error: { stdout?: string; message: string }) => {
    throw new Error(`The build failed:\n${error.stdout || error.message}`);
  });
}
