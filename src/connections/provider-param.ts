import { BadRequestException, Param } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { isProvider, type Provider, PROVIDERS } from './providers.js';

/** A route's `:provider`, one of the nine, or a 400 that lists them. */
export const ProviderParam = (): ParameterDecorator =>
  Param('provider', {
    transform(value: string): Provider {
      if (!isProvider(value)) throw new BadRequestException(`provider must be one of: ${PROVIDERS.join(', ')}`);
      return value;
    },
  });

/** The OpenAPI description of `:provider`. */
export const PROVIDER_PARAM_DOC = ApiParam({ name: 'provider', enum: PROVIDERS, example: 'garmin' });
