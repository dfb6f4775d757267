import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { RefreshAttempt } from './refresh-attempt.entity.js';
import { RefreshAttemptsRepository } from './refresh-attempts.repository.js';
import { RefreshController } from './refresh.controller.js';
import { REFRESH_OPTIONS, type RefreshOptions, RefreshService } from './refresh.service.js';

/** The background refresher, its attempts log, and the routes that show and trigger it. */
@Module({})
export class RefreshModule {
  static forRoot(options: RefreshOptions): DynamicModule {
    return {
      module: RefreshModule,
      // ConnectionsService and ProvidersService come from WearableConnectionsModule, which is global.
      imports: [TypeOrmModule.forFeature([RefreshAttempt])],
      controllers: [RefreshController],
      providers: [RefreshAttemptsRepository, RefreshService, { provide: REFRESH_OPTIONS, useValue: options }],
      exports: [RefreshService],
    };
  }
}
