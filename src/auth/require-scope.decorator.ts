import { SetMetadata } from '@nestjs/common';
import type { Scope } from './scopes.js';

export const REQUIRED_SCOPE = 'auth:scope';

/** The scope a route needs. A route that declares none needs `admin`. */
export const RequireScope = (scope: Scope) => SetMetadata(REQUIRED_SCOPE, scope);
