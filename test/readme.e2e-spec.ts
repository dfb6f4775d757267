import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_EXAMPLE } from './support/spec-example.js';
import { ROOT } from './support/compile-service.js';
import { type SpawnedService, spawnService } from './support/spawn-service.js';

// The README's shell blocks, run as a newcomer would run them, against the compiled service.
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const missing = ['bash', 'curl', 'jq'].filter((tool) => !execFileSync('sh', ['-c', `command -v ${tool} || true`], { encoding: 'utf8' }).trim());
const SKIPPED = missing.length ? ` (skipped: ${missing.join(', ')} not installed)` : '';

/** The body of the first ```sh block after `heading`. */
function shellBlockAfter(heading: string): string {
  const start = README.indexOf(heading);
  if (start < 0) throw new Error(`README.md has no "${heading}"`);
  const match = /```sh\n([\s\S]*?)```/.exec(README.slice(start));
  if (!match) throw new Error(`README.md has no sh block after "${heading}"`);
  return match[1];
}

/** Consecutive JSON values, each over one or more lines. */
function jsonValues(lines: string[]): unknown[] {
  const values: unknown[] = [];
  let pending = '';
  for (const line of lines) {
    pending += `${line}\n`;
    try {
      values.push(JSON.parse(pending));
      pending = '';
    } catch {
      // Not complete yet.
    }
  }
  expect(pending.trim(), 'output that is not JSON').toBe('');
  return values;
}

describe.skipIf(missing.length > 0)(`the README, followed as written${SKIPPED}`, () => {
  const apiKey = `readme-test-key-${randomBytes(8).toString('hex')}`;
  let service: SpawnedService | undefined;

  /** Runs a README block with bash (stopping at the first failing command), against this test's service. */
  async function run(block: string): Promise<string> {
    const script = `set -euo pipefail\n${block.replaceAll('http://localhost:3000', `http://127.0.0.1:${service!.port}`)}`;
    const { stdout } = await promisify(execFile)('bash', ['-c', script], {
      env: { PATH: process.env.PATH ?? '', API_KEY: apiKey },
      cwd: service!.workDir,
    });
    return stdout;
  }

  beforeAll(async () => {
    service = await spawnService('readme', { BOOTSTRAP_API_KEY: apiKey, DEMO_DATA: 'true' });
  }, 120_000);

  afterAll(async () => {
    await service?.stop();
  });

  it(`shows the spec's example response with the quick start's curl${SKIPPED}`, async () => {
    const block = shellBlockAfter("So this shows the spec's example response");
    const answer = await run(block.replace(/^export API_KEY=.*$/m, ''));
    expect(JSON.parse(answer)).toEqual(SPEC_EXAMPLE);
  });

  it(`runs every command of "Next steps": a read-only key, a user, a connection, the list and its filters, a disconnect${SKIPPED}`, async () => {
    const lines = (await run(shellBlockAfter('## Next steps'))).trim().split('\n');
    // The read-only key, shown once; then the answers, pretty-printed by jq; then the DELETE's status.
    expect(lines[0]).toMatch(/^wck_[A-Za-z0-9_-]{43}$/);
    const deleted = lines.at(-1);
    const answers = jsonValues(lines.slice(1, -1));
    expect(answers).toHaveLength(4);
    // The PUT's answer, then the list, the active ones and Strava's: the same one connection each time.
    const [connection, ...lists] = answers;
    expect(connection).toMatchObject({ provider: 'strava', status: 'active', provider_user_id: '12345678', scope: 'activity:read_all' });
    for (const list of lists) expect(list).toEqual([connection]);
    expect(deleted).toBe('204');
    // Nothing the README sent as a token came back.
    expect(lines.join('\n')).not.toMatch(/a-strava-(access|refresh)-token/);
  });
});
