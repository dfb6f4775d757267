import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger, NotFoundException } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable } from '../database/database-unavailable.js';
import { UNSUPPORTED_MEDIA_TYPE } from './api-docs.js';
import { redactPath } from './logging.js';

/** The one place errors become responses: always `{"detail": "..."}`, never a stack trace. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const { status, detail } = toErrorResponse(exception, http.getRequest<FastifyRequest>());
    if (status === HttpStatus.SERVICE_UNAVAILABLE) reply.header('Retry-After', '1');
    if (status >= 500) {
      // Name and message only: a database error object also carries the query's parameters.
      const error = exception instanceof Error ? `${exception.name}: ${exception.message}` : 'non-Error thrown';
      // With its request's id, as the request line has it (logs carry no per-request context by themselves).
      this.logger.error({ reqId: http.getRequest<FastifyRequest>().id, msg: `${status} ${error}` });
    }
    reply.status(status).send({ detail });
  }
}

interface ErrorResponse {
  status: number;
  detail: string;
}

/**
 * Nest's Fastify adapter hands errors raised by Fastify itself (bad JSON, body too large,
 * unsupported media type) to this filter as HttpExceptions, so they take the same shape.
 */
export function toErrorResponse(exception: unknown, request?: { method: string; url: string }): ErrorResponse {
  if (exception instanceof HttpException) {
    const detail = detailOf(exception.getResponse());
    if (request && exception instanceof NotFoundException && NO_ROUTE.test(detail)) {
      return { status: HttpStatus.NOT_FOUND, detail: noRoute(request) };
    }
    // Only Fastify (FST_ERR_CTP_INVALID_MEDIA_TYPE) and the form parser (readJsonOnly) answer 415, a body that is not JSON: say what to send instead.
    if (exception.getStatus() === HttpStatus.UNSUPPORTED_MEDIA_TYPE) {
      return { status: HttpStatus.UNSUPPORTED_MEDIA_TYPE, detail: UNSUPPORTED_MEDIA_TYPE };
    }
    return { status: exception.getStatus(), detail };
  }
  if (isDatabaseUnavailable(exception)) {
    return { status: HttpStatus.SERVICE_UNAVAILABLE, detail: 'The database is unavailable; retry shortly' };
  }
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, detail: 'Internal server error' };
}

/** Nest's answer for a URL no route serves: "Cannot GET /path?query", which would echo the query. */
const NO_ROUTE = /^Cannot [A-Z]+ \//;

/**
 * "Route GET /path not found": the path only, since a query string may carry a secret (`?api_key=`),
 * and without anything in it shaped like a secret, a connect link's token included (redactPath).
 */
function noRoute(request: { method: string; url: string }): string {
  const query = request.url.indexOf('?');
  return `Route ${request.method} ${redactPath(query === -1 ? request.url : request.url.slice(0, query))} not found`;
}

function detailOf(response: string | object): string {
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : 'Request failed';
}
