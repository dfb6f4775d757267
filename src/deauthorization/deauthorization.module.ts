import { type DynamicModule, Module } from '@nestjs/common';
import { DEREGISTRATION_RETRY_DELAYS, DeregistrationHandler, type DeregistrationRetryDelays } from './deregistration.handler.js';
import { ProviderNoticeHandler } from './provider-notice.handler.js';
import { ProviderNoticesController } from './provider-notices.controller.js';

/**
 * Grants ended on either side: our disconnects reach the provider (DeregistrationHandler, on the jobs
 * the connections module writes), and the providers' deauthorizations reach us
 * (ProviderNoticesController, ProviderNoticeHandler). ConnectionsService, ProvidersService, JobsService
 * and TokenCipher come from WearableConnectionsModule, which is global.
 */
@Module({})
export class DeauthorizationModule {
  static forRoot(retryDelays: DeregistrationRetryDelays): DynamicModule {
    return {
      module: DeauthorizationModule,
      controllers: [ProviderNoticesController],
      providers: [DeregistrationHandler, ProviderNoticeHandler, { provide: DEREGISTRATION_RETRY_DELAYS, useValue: retryDelays }],
    };
  }
}
