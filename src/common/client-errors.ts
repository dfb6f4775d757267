import type { FastifyReply } from 'fastify';
import type { Socket } from 'node:net';

/**
 * Answers requests Node's HTTP parser rejected before they reached Fastify (headers over 16 KiB,
 * malformed request lines, timeouts) with the API's error shape instead of Fastify's.
 * Oversized headers get a 400, as this API answers every oversized input with a 400 or a 413.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, detail] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'The request took too long to arrive']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [400, 'Bad Request', 'The request headers are too large']
        : [400, 'Bad Request', 'The request is not valid HTTP'];
  const body = JSON.stringify({ detail });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

export const BODY_LIMITS = { depth: 32, fields: 1_000 };

/**
 * What is wrong with a parsed JSON body, if anything, checked without recursion before any
 * validator walks it: nesting deeper than the validators' stack can take, more fields than any
 * request here has (class-validator's time grows faster than the field count), or a NUL
 * character, which PostgreSQL cannot store in text.
 */
export function bodyProblem(value: unknown): string | undefined {
  const stack: [unknown, number][] = [[value, 0]];
  let fields = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return 'The request body must not contain NUL characters (\\u0000)';
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth >= BODY_LIMITS.depth) return 'The request body is nested too deeply';
    for (const [key, child] of Object.entries(node)) {
      if (++fields > BODY_LIMITS.fields) return 'The request body has too many fields';
      if (key.includes('\u0000')) return 'The request body must not contain NUL characters (\\u0000)';
      stack.push([child, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Errors Fastify's router raises before any hook runs (a malformed URL escape, a path parameter over
 * the limit): answered in the API's error shape, with the security headers.
 */
export function frameworkErrorHandler(headers: Readonly<Record<string, string>>) {
  return (error: { statusCode?: number; code?: string }, _request: unknown, reply: FastifyReply): void => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 400;
    const detail =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path parameter is too long' : 'The URL is not valid (a malformed % escape?)';
    reply.code(status).headers(headers).send({ detail });
  };
}
