import type { TestingModule } from '@nestjs/testing';
import type { DataSource } from 'typeorm';
import { vi } from 'vitest';
import { Sql } from '../../src/database/sql.js';

/** A statement as sent through Sql.rows: its text, values and name (a named one is prepared on each connection). */
export type Statement = { text: string; values: unknown[]; name?: string };

/** The text, values and name of the statement `run` sends through Sql.rows (the first one, or the one named `name`). */
export async function statementOf(moduleRef: TestingModule, run: () => Promise<unknown>, name?: string): Promise<Statement> {
  const rows = vi.spyOn(moduleRef.get(Sql), 'rows');
  try {
    await run();
    const call = rows.mock.calls.find(([, , named]) => name === undefined || named === name);
    if (!call) throw new Error('the statement did not run through Sql.rows');
    return { text: call[0], values: call[1] ?? [], name: call[2] };
  } finally {
    rows.mockRestore();
  }
}

/** The scans of a plan from EXPLAIN (FORMAT JSON), each as "<node type> on <relation>[ using <index>]". */
export function scansOf(plan: unknown): string[] {
  const found: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const fields = node as Record<string, unknown>;
    if (typeof fields['Node Type'] === 'string' && (typeof fields['Relation Name'] === 'string' || typeof fields['Index Name'] === 'string')) {
      const relation = fields['Relation Name'] ? ` on ${String(fields['Relation Name'])}` : '';
      const index = fields['Index Name'] ? ` using ${String(fields['Index Name'])}` : '';
      found.push(`${fields['Node Type']}${relation}${index}`);
    }
    Object.values(fields).forEach(visit);
  };
  visit(plan);
  return found;
}

/** The indexes a plan reads. */
export function indexesOf(scans: string[]): string[] {
  return scans.flatMap((scan) => scan.match(/ using (\S+)$/)?.[1] ?? []);
}

/** A value as PostgreSQL's text input reads it (arrays as array literals). */
function textOf(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const items = value.map((item) => (item === null || item === undefined ? 'NULL' : `"${textOf(item).replace(/["\\]/g, '\\$&')}"`));
    return `{${items.join(',')}}`;
  }
  return String(value);
}

/**
 * The statement's scans for these values (custom plan) and for any values (the generic plan, which a
 * statement prepared on a table never analyzed keeps until the table is analyzed), on one connection.
 */
export async function plans(dataSource: DataSource, statement: Statement): Promise<{ custom: string[]; generic: string[] }> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    const [custom] = await runner.query(`EXPLAIN (FORMAT JSON) ${statement.text}`, statement.values);
    await runner.query(`PREPARE plans_spec_statement AS ${statement.text}`);
    try {
      await runner.query(`SET plan_cache_mode = force_generic_plan`);
      const literals = statement.values.map((value) => (value === null || value === undefined ? 'NULL' : `'${textOf(value).replaceAll("'", "''")}'`));
      const [generic] = await runner.query(`EXPLAIN (FORMAT JSON) EXECUTE plans_spec_statement(${literals.join(', ')})`);
      return { custom: scansOf(custom), generic: scansOf(generic) };
    } finally {
      await runner.query(`RESET plan_cache_mode`);
      await runner.query(`DEALLOCATE plans_spec_statement`);
    }
  } finally {
    await runner.release();
  }
}
