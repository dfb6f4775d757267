import { sqlState } from './sql.js';

// Connection exceptions (class 08), the server shutting down (57P0x), a statement cancelled by
// statement_timeout (57014), too many connections (53300).
const UNAVAILABLE_STATES = /^(08...|57P0.|57014|53300)$/;
const NETWORK_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);
// What pg and pg-pool say when a connection cannot be had, broke, or stopped answering.
const DRIVER_MESSAGES = /timeout exceeded when trying to connect|Connection terminated|Query read timeout|Client has encountered a connection error|Connection ended|not queryable/i;

/**
 * Whether an error means the database could not be reached or did not answer in time, as opposed
 * to a fault in the request or in the code: such requests get a 503, and the next can succeed.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e = error as { code?: unknown; message?: unknown; driverError?: unknown } | undefined; e; e = e.driverError as typeof e) {
    const state = sqlState(e);
    if (state && (UNAVAILABLE_STATES.test(state) || NETWORK_ERRORS.has(state))) return true;
    if (typeof e.message === 'string' && DRIVER_MESSAGES.test(e.message)) return true;
    if (e.driverError === e) break;
  }
  return false;
}
