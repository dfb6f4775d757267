import { type DynamicModule, Module } from '@nestjs/common';
import type { ProvidersConfig } from '../config/providers.config.js';
import { ProvidersController } from './providers.controller.js';
import { PROVIDERS_CONFIG, ProvidersService } from './providers.service.js';

@Module({})
export class ProvidersModule {
  /** ProvidersService (OAuth with the wearable providers) and GET /api/v1/providers. */
  static forRoot(config: ProvidersConfig): DynamicModule {
    return {
      module: ProvidersModule,
      controllers: [ProvidersController],
      providers: [{ provide: PROVIDERS_CONFIG, useValue: config }, ProvidersService],
      exports: [ProvidersService],
    };
  }
}
