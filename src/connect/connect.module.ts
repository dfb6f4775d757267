import { type DynamicModule, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { ConnectConfig } from '../config/connect.config.js';
import { ConnectionsModule } from '../connections/connections.module.js';
import { ConnectAttempt } from './connect-attempt.entity.js';
import { ConnectPagesController } from './connect-pages.controller.js';
import { ConnectViews } from './connect-views.js';
import { ConnectSession } from './connect-session.entity.js';
import { ConnectSessionsController } from './connect-sessions.controller.js';
import { ConnectRepository } from './connect.repository.js';
import { CONNECT_CONFIG, ConnectService } from './connect.service.js';

/**
 * Connect sessions: the API that makes a link for a user (POST /api/v1/users/{user_id}/connect-sessions,
 * GET /api/v1/connect-sessions/{id}) and the routes the user's browser follows (/connect/…, /oauth/…).
 * It depends on connections (ConnectionsService.link) and on the providers (ProvidersService, which
 * WearableConnectionsModule exports to every module, as it does TokenCipher).
 */
@Module({})
export class ConnectModule {
  static forRoot(config: ConnectConfig): DynamicModule {
    return {
      module: ConnectModule,
      // The entities describe the tables for TypeORM's schema tools; the repository's statements are SQL.
      imports: [TypeOrmModule.forFeature([ConnectSession, ConnectAttempt]), ConnectionsModule],
      controllers: [ConnectSessionsController, ConnectPagesController],
      providers: [{ provide: CONNECT_CONFIG, useValue: config }, ConnectRepository, ConnectService, ConnectViews],
    };
  }
}
