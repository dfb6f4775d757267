import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';

// Clients that already carry the listener below: one per connection, for its whole life.
const guarded = new WeakSet<PoolClient>();

/**
 * Runs one statement in the caller's transaction and resolves to its rows: Sql.executor(client) for a
 * `pg` client (which honours `name` as Sql.rows does), `(text, values) => manager.query(text, values)`
 * for a TypeORM EntityManager (which ignores it, and answers an INSERT or a SELECT with its rows).
 */
export type SqlExecutor = (text: string, values: unknown[], name?: string) => Promise<unknown[]>;

/** Whether named (server-side prepared) statements may be used; see Sql. */
export const PREPARED_STATEMENTS = Symbol('PREPARED_STATEMENTS');

/**
 * Plain SQL on TypeORM's own `pg` pool, for statements that are clearer (or faster) written out:
 * every result is `rows`, and a `name` makes the statement a prepared one on each pooled connection.
 *
 * The embedded database runs every client connection in one Postgres session, so a statement
 * prepared by a connection that has since been dropped would still exist there and collide with
 * the next connection's; names are ignored on it.
 */
@Injectable()
export class Sql {
  private readonly pool: Pool;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    @Inject(PREPARED_STATEMENTS) private readonly prepared: boolean,
  ) {
    this.pool = (dataSource.driver as PostgresDriver).master as Pool;
  }

  async rows<T>(text: string, values: unknown[] = [], name?: string): Promise<T[]> {
    // Not pool.query(): it drops the connection on any error, even a constraint violation, which
    // costs a reconnect, and which the embedded database (one connection) cannot take at once.
    const client = await this.checkout();
    try {
      const result = await client.query({ text, values, name: this.prepared ? name : undefined });
      client.release();
      return result.rows as T[];
    } catch (error) {
      // An error the server answered (it has an SQLSTATE) leaves the connection usable; any other may not.
      client.release(sqlState(error) === undefined ? (error as Error) : undefined);
      throw error;
    }
  }

  /** One statement on `client` (a connection of transaction()'s), named as rows() names it. */
  async on<T>(client: PoolClient, text: string, values: unknown[] = [], name?: string): Promise<T[]> {
    return (await client.query({ text, values, name: this.prepared ? name : undefined })).rows as T[];
  }

  /** Statements on `client`, for code that writes in the caller's transaction (the outbox, jobs). */
  executor(client: PoolClient): SqlExecutor {
    return (text, values, name) => this.on(client, text, values, name);
  }

  /**
   * A pooled connection that cannot crash the process: while a client is checked out, pg-pool takes
   * its own 'error' listener off, so a connection reset in the middle of a query would be an
   * uncaught 'error' event. The query itself still fails (and the request gets its 503), and
   * release(error) still drops the connection.
   */
  private async checkout(): Promise<PoolClient> {
    const client = await this.pool.connect();
    if (!guarded.has(client)) {
      client.on('error', () => undefined);
      guarded.add(client);
    }
    return client;
  }

  /**
   * Runs `work` in one transaction on one connection: committed if it resolves, rolled back if it
   * throws. `last`, if given, sends the transaction's closing statements (the outbox's records of a
   * change), which the COMMIT must include: each is sent when it is called, before its promise is
   * returned (as every statement on `client` is), and if any fails the transaction is rolled back
   * and this throws its error.
   *
   * The pool pipelines (`pipeline` in data-source-options.ts; sql.spec.ts checks it): BEGIN goes out
   * with the work's first statement, and the COMMIT with the last statements, without waiting for
   * their answers; a change and its records take two round trips instead of four.
   */
  async transaction<T>(work: (client: PoolClient) => Promise<T>, last?: (client: PoolClient) => Promise<unknown>[]): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      const begun = client.query('BEGIN');
      begun.catch(() => undefined); // its failure is the work's first statement's too
      const result = await work(client);
      await begun;
      const closing = last?.(client) ?? [];
      for (const statement of closing) statement.catch(() => undefined);
      const committed = client.query('COMMIT');
      committed.catch(() => undefined);
      // A failed statement aborts the transaction: those behind it fail too (the first failure is
      // thrown), and the COMMIT answers ROLLBACK. (So it does when the work caught a failure of its
      // own and resolved, as before pipelining: what it resolved to stands.)
      for (const statement of closing) await statement;
      await committed;
      return result;
    } catch (error) {
      if (connectionLost(error)) {
        // No answer from the server (a timeout, a dropped connection): a ROLLBACK would wait as long
        // again. The connection is dropped instead, and the server rolls the transaction back with it.
        broken = error as Error;
      } else {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError; // the connection is unusable: the pool must drop it
        });
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

// What pg says when the server did not answer a query, or the connection broke under it.
const NO_ANSWER = /Query read timeout|Connection terminated|Client has encountered a connection error|Connection ended|not queryable/i;
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** Whether a query failed for want of an answer (the connection is of no use any more), not with the server's error. */
function connectionLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (typeof code === 'string' && LOST.has(code)) || (typeof message === 'string' && NO_ANSWER.test(message));
}

/** The SQLSTATE of a database error, if it is one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
