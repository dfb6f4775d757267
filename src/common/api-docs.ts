import { applyDecorators } from '@nestjs/common';
import {
  ApiExtension,
  type ApiParamOptions,
  ApiProperty,
  ApiResponse,
  type ApiResponseOptions,
  ApiSchema,
  type ApiSchemaOptions,
  ApiSecurity,
} from '@nestjs/swagger';
import type { HeadersObject } from '@nestjs/swagger';

/** Every error this API answers. */
@ApiSchema({ name: 'Error', description: 'Every error this API answers: one human-readable sentence' })
export class ErrorResponse {
  @ApiProperty({ example: 'User not found' })
  detail: string;
}

export const API_KEY_SECURITY = 'api-key';

/** The body of a 415: Fastify's own wording is replaced by this one (see HttpExceptionFilter). */
export const UNSUPPORTED_MEDIA_TYPE = 'Content-Type must be application/json';

const RETRY_AFTER: HeadersObject = {
  'Retry-After': { description: 'Seconds to wait before retrying', required: true, schema: { type: 'integer', minimum: 0 } },
};

/** What ApiKeyGuard sets on every answer to an authenticated request. */
export const RATE_LIMIT_HEADERS: HeadersObject = {
  'X-RateLimit-Limit': { description: 'Requests allowed per minute for this API key', schema: { type: 'integer', minimum: 1 } },
  'X-RateLimit-Remaining': { description: 'Requests left in the current minute', schema: { type: 'integer', minimum: 0 } },
  'X-RateLimit-Reset': { description: 'Seconds until the current minute ends', schema: { type: 'integer', minimum: 0 } },
};

const STANDARD: Record<number, { description: string; detail: string; headers?: HeadersObject }> = {
  400: { description: 'Invalid input; the detail names the parameter or field', detail: 'user_id must be a UUID' },
  401: { description: 'Missing, wrong, expired or revoked API key', detail: 'Invalid or missing API key' },
  403: { description: "The API key lacks the route's scope", detail: 'This API key lacks the "write" scope' },
  404: { description: 'Not found', detail: 'User not found' },
  409: { description: 'Conflict', detail: 'A user with this id already exists' },
  413: { description: 'The request body is over 1 MiB', detail: 'Request body is too large' },
  414: { description: 'A path parameter is over 2,048 characters', detail: 'A path parameter is too long' },
  415: { description: 'A request body that is not application/json', detail: UNSUPPORTED_MEDIA_TYPE },
  429: {
    description:
      'Rate limit exceeded (per API key, with the X-RateLimit-* headers; or failed authentications per client address); ' +
      'retry after Retry-After seconds',
    detail: 'Rate limit exceeded: 6000 requests per minute per API key; retry after 12 s',
    headers: { ...RETRY_AFTER, ...RATE_LIMIT_HEADERS },
  },
  502: { description: 'The provider refused the request or answered something malformed', detail: 'garmin refused the refresh (HTTP 400)' },
  503: {
    description: 'The database (or, where a route calls one, the provider) is unavailable or too slow; retry after Retry-After seconds',
    detail: 'The database is unavailable; retry shortly',
    headers: RETRY_AFTER,
  },
};

/** Documents the `{"detail"}` errors a route can answer; `examples` replace a status's example detail. */
export function ApiErrors(statuses: number[], examples: Record<number, string> = {}): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: STANDARD[status].description,
        type: ErrorResponse,
        example: { detail: examples[status] ?? STANDARD[status].detail },
        ...(STANDARD[status].headers ? { headers: STANDARD[status].headers } : {}),
      }),
    ),
  );
}

/**
 * The errors of a route that reads a request body, as every route other than GET does when one is
 * sent: 413 over 1 MiB, 415 when it is not JSON.
 */
export const ApiBodyErrors = (): MethodDecorator & ClassDecorator => ApiErrors([413, 415]);

/** The rate-limit headers, which every success answer of an authenticated route carries. */
const REQUIRED_RATE_LIMIT_HEADERS: HeadersObject = Object.fromEntries(
  Object.entries(RATE_LIMIT_HEADERS).map(([name, header]) => [name, { ...header, required: true }]),
);

/** A success answer of an authenticated route: it carries the rate-limit headers. */
export function ApiSuccess(options: ApiResponseOptions): MethodDecorator & ClassDecorator {
  return ApiResponse({ ...options, headers: { ...REQUIRED_RATE_LIMIT_HEADERS, ...options.headers } } as ApiResponseOptions);
}

/**
 * Documents that a route needs an API key with `scope`, and the errors every authenticated route can
 * answer: authentication (401, 403, 429) and the database behind it (503). The scope is also written
 * into the operation's description when the document is built (see buildOpenApiDocument).
 */
export function ApiKeyAuth(scope: string): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiSecurity(API_KEY_SECURITY),
    ApiExtension('x-required-scope', scope),
    ApiErrors([401, 403, 429, 503], { 403: `This API key lacks the "${scope}" scope` }),
  );
}

/**
 * Names a request body's schema. Its `additionalProperties: false` is what validBody enforces (an
 * unknown field is a 400). ApiSchema copies its options past `name` into the schema, though its type
 * declares only `description`.
 */
export function ApiRequestBody(name: string, description?: string): ClassDecorator {
  return ApiSchema({ name, description, additionalProperties: false } as ApiSchemaOptions);
}

/** A UUID as the API accepts one (UUID_PATTERN, in any case): always 36 characters. */
export const UUID_SCHEMA = { type: 'string', format: 'uuid', minLength: 36, maxLength: 36 } as const;

/** A path parameter that UuidParam() checks. */
export const uuidParam = (name: string, description: string, example?: string): ApiParamOptions => ({
  name,
  description,
  example,
  schema: { ...UUID_SCHEMA },
});

/**
 * An RFC 3339 time with its time zone, as IsIsoTime() accepts it (17 to 35 characters); the years 1
 * to 9999 it also requires are not expressible here.
 */
export const ISO_TIME_SCHEMA = {
  type: String,
  format: 'date-time',
  minLength: 17,
  maxLength: 35,
  pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt]\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,9})?)?([Zz]|[+-]\\d{2}:\\d{2})$',
} as const;
