import { type DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { dataSourceOptions, type PoolOptions } from './data-source-options.js';
import { PREPARED_STATEMENTS, Sql } from './sql.js';

@Global()
@Module({})
export class DatabaseModule {
  /** TypeORM on the given PostgreSQL URL; pending migrations run before the application starts. */
  static forRoot(url: string, pool: PoolOptions, embedded: boolean): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [TypeOrmModule.forRoot({ ...dataSourceOptions(url, pool), autoLoadEntities: true, migrationsRun: true })],
      providers: [Sql, { provide: PREPARED_STATEMENTS, useValue: !embedded }],
      exports: [Sql],
    };
  }
}
