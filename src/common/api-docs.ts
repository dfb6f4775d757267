import { applyDecorators } from '@nestjs/common';
import { ApiExtension, ApiProperty, ApiResponse, ApiSecurity } from '@nestjs/swagger';

/** Every error this API answers. */
export class ErrorResponse {
  @ApiProperty({ example: 'User not found' })
  detail: string;
}

export const API_KEY_SECURITY = 'api-key';

const STANDARD: Record<number, { description: string; detail: string }> = {
  400: { description: 'Invalid input; the detail names the parameter or field', detail: 'user_id must be a UUID' },
  401: { description: 'Missing, wrong, expired or revoked API key', detail: 'Invalid or missing API key' },
  403: { description: "The API key lacks the route's scope", detail: 'This API key lacks the "write" scope' },
  404: { description: 'Not found', detail: 'User not found' },
  409: { description: 'Conflict', detail: 'A user with this id already exists' },
  413: { description: 'The request body is over 1 MiB', detail: 'Request body is too large' },
  415: { description: 'The body is not JSON', detail: "Unsupported Media Type: text/plain" },
  429: {
    description: 'Rate limit exceeded (per key, or failed authentications per address); see Retry-After',
    detail: 'Rate limit exceeded: 6000 requests per minute per API key; retry after 12 s',
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
      }),
    ),
  );
}

/** Documents that a route needs an API key with `scope`, and the errors of authentication. */
export function ApiKeyAuth(scope: string): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiSecurity(API_KEY_SECURITY),
    ApiExtension('x-required-scope', scope),
    ApiErrors([401, 403, 429], { 403: `This API key lacks the "${scope}" scope` }),
  );
}
