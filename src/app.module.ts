import { ClassSerializerInterceptor, type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_INTERCEPTOR } from '@nestjs/core';
import { AuthModule } from './auth/auth.module.js';
import { HttpExceptionFilter } from './common/http-exception.filter.js';
import { ConnectionsModule } from './connections/connections.module.js';
import { DatabaseModule } from './database/database.module.js';
import { HealthController } from './health.controller.js';
import { UsersModule } from './users/users.module.js';

export interface AppModuleOptions {
  databaseUrl: string;
  dbPoolSize: number;
}

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [DatabaseModule.forRoot(options.databaseUrl, options.dbPoolSize), AuthModule, UsersModule, ConnectionsModule],
      controllers: [HealthController],
      providers: [
        { provide: APP_FILTER, useClass: HttpExceptionFilter },
        // Applies @Exclude() should an entity ever be returned; responses are built by toXResponse() mappers.
        { provide: APP_INTERCEPTOR, useClass: ClassSerializerInterceptor },
      ],
    };
  }
}
