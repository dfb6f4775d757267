import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';

/** The one place errors become responses: always `{"detail": "..."}`, never a stack trace. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { status, detail, headers } = toErrorResponse(exception);
    if (status >= 500) {
      // Name and message only: a database error object also carries the query's parameters.
      const error = exception instanceof Error ? `${exception.name}: ${exception.message}` : 'non-Error thrown';
      this.logger.error(`${status} ${error}`);
    }
    reply.headers(headers).status(status).send({ detail });
  }
}

interface ErrorResponse {
  status: number;
  detail: string;
  headers: Record<string, string>;
}

export function toErrorResponse(exception: unknown): ErrorResponse {
  if (exception instanceof HttpException) {
    return { status: exception.getStatus(), detail: detailOf(exception.getResponse()), headers: {} };
  }
  // Errors raised by Fastify itself (bad JSON, body too large, unsupported media type) carry a 4xx statusCode.
  const statusCode = (exception as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { status: statusCode, detail: fastifyDetail(exception as Error & { code?: string }), headers: {} };
  }
  return { status: HttpStatus.INTERNAL_SERVER_ERROR, detail: 'Internal server error', headers: {} };
}

function detailOf(response: string | object): string {
  if (typeof response === 'string') return response;
  const message = (response as { message?: unknown; detail?: unknown }).detail ?? (response as { message?: unknown }).message;
  if (Array.isArray(message)) return message.join('; ');
  return typeof message === 'string' ? message : 'Request failed';
}

function fastifyDetail(error: Error & { code?: string }): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'The request body is not valid JSON';
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'The request body is too large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'Unsupported Content-Type; send application/json';
    default:
      return error.message;
  }
}
