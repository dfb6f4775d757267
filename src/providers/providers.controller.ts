import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { ApiSuccess } from '../common/api-docs.js';
import { PROVIDERS } from '../connections/providers.js';
import { ProviderAvailabilityResponse } from './dto/provider-availability.response.js';
import { ProvidersService } from './providers.service.js';

@ApiTags('connections')
@Controller('api/v1/providers')
export class ProvidersController {
  constructor(private readonly providers: ProvidersService) {}

  /** All nine providers, each with whether it is offered. */
  @Get()
  @RequireScope('read')
  @ApiOperation({
    operationId: 'listProviders',
    summary: 'List the wearable providers and which can be connected',
    description:
      'Every provider the service knows, in a fixed order, each with `connectable`: whether the service has its OAuth ' +
      'client (both P_CLIENT_ID and P_CLIENT_SECRET are set), so that users can connect it.',
  })
  @ApiSuccess({
    status: 200,
    description: 'All nine providers',
    type: [ProviderAvailabilityResponse],
    example: PROVIDERS.map((provider) => ({ provider, connectable: provider === 'garmin' || provider === 'strava' })),
  })
  list(): ProviderAvailabilityResponse[] {
    return this.providers.list();
  }
}
