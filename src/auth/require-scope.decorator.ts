import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiKeyAuth } from '../common/api-docs.js';
import type { Scope } from './scopes.js';

export const REQUIRED_SCOPE = 'auth:scope';

/** The scope a route needs (and its documentation). A route that declares none needs `admin`. */
export const RequireScope = (scope: Scope) => applyDecorators(SetMetadata(REQUIRED_SCOPE, scope), ApiKeyAuth(scope));
