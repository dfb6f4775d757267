import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { DestinationStream } from 'pino';
import { HealthController } from './health.controller.js';
import { type RuntimeConfig, WearableConnectionsModule } from './wearable-connections.module.js';

export type { RuntimeConfig } from './wearable-connections.module.js';

/**
 * The standalone service: WearableConnectionsModule, which is what another application imports too,
 * and what only the service has, its health probes.
 */
@Module({})
export class AppModule {
  static forRoot(config: RuntimeConfig, logStream?: DestinationStream): DynamicModule {
    return {
      module: AppModule,
      imports: [WearableConnectionsModule.forRoot({ ...config, logStream }), TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
    };
  }
}
