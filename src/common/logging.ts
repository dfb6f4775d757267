import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DynamicModule, RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { type DestinationStream, destination } from 'pino';
import type { LogLevel } from '../config/app.config.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Paths pino replaces with "[redacted]" wherever they appear. Request logs carry only method, URL and
 * address (no headers, no body), so this is the second line of defence, not the first.
 */
export const REDACTED_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
  '*.key',
  '*.token',
];

/**
 * The request id: the caller's X-Request-Id when it is sane, else a new UUID. Fastify assigns it
 * (see createApp), and pino-http logs the id Fastify put on the request.
 */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

const standardOutput = destination({ dest: 1, sync: false, minLength: 4096 });

/** Writes out what the log buffer holds; called before the process exits. */
export function flushLogs(): void {
  try {
    standardOutput.flushSync();
  } catch {
    // Nothing was ever written, so the stream never opened: nothing to flush.
  }
}

/** Structured JSON logs, one line per request with its id. */
export function loggingModule(level: LogLevel, stream?: DestinationStream): DynamicModule {
  return LoggerModule.forRoot({
    // nestjs-pino's default route pattern matches nothing under Nest 12's Fastify adapter.
    forRoutes: [{ path: '*splat', method: RequestMethod.ALL }],
    pinoHttp: [
      {
        level,
        redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
        serializers: {
          req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
            id: req.id,
            method: req.method,
            url: req.url,
            remoteAddress: req.remoteAddress,
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
        customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
          error || res.statusCode >= 500 ? 'error' : 'info',
      },
      // Buffered, written asynchronously: a synchronous write per request line costs a quarter of
      // the throughput. What is buffered is flushed at shutdown (see flushLogs).
      stream ?? standardOutput,
    ],
  });
}
