import 'reflect-metadata';
import { type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';
import { ApiKeysService } from './auth/api-keys.service.js';
import type { AppConfig } from './config/app.config.js';
import { loadDemoData } from './database/demo-data.js';
import { Sql } from './database/sql.js';

export type StartupConfig = Pick<AppConfig, 'dbPoolSize' | 'bootstrapApiKey' | 'demoData'> & { databaseUrl: string };

/** Builds the application on the given database: migrations applied, bootstrap key and demo data in place. */
export async function createApp(config: StartupConfig, logger?: LoggerService | false): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: 1024 * 1024,
    routerOptions: { maxParamLength: 2048, ignoreTrailingSlash: true },
  });
  // JSON is the only body this API reads; anything else gets a 415 instead of reaching validation as a string.
  adapter.getInstance().removeContentTypeParser('text/plain');
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot({ databaseUrl: config.databaseUrl, dbPoolSize: config.dbPoolSize }),
    adapter,
    { logger: logger ?? undefined, abortOnError: false },
  );
  await app.init();
  await ensureApiKey(app.get(ApiKeysService), config.bootstrapApiKey);
  if (config.demoData) await loadDemoData(app.get(Sql));
  return app;
}

/** Registers BOOTSTRAP_API_KEY as an admin key; with none set and no key at all, makes one and prints it once. */
async function ensureApiKey(apiKeys: ApiKeysService, bootstrapKey: string | undefined): Promise<void> {
  if (bootstrapKey) {
    await apiKeys.register('bootstrap', bootstrapKey, ['admin']);
    return;
  }
  if ((await apiKeys.count()) > 0) return;
  const { key } = await apiKeys.create('generated at first start', ['admin']);
  // Written to the terminal once, outside the logger, so that no log pipeline keeps it.
  process.stdout.write(
    `\nNo API key existed, so an admin key was created. It is shown this once and stored only as a hash:\n\n` +
      `    ${key}\n\n` +
      `Send it in the X-API-Key header, e.g.\n` +
      `    curl -H "X-API-Key: ${key}" http://localhost:3000/api/v1/users\n\n`,
  );
}
