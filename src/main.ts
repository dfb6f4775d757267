import type { AddressInfo } from 'node:net';
import { ConfigModule } from '@nestjs/config';
import { Logger } from 'nestjs-pino';
import { createApp } from './app.js';
import { ApiKeysService } from './auth/api-keys.service.js';
import { flushLogs } from './common/logging.js';
import { appConfig, ConfigError, insecureSettings } from './config/app.config.js';
import { resolveTokenKey } from './crypto/token-key-file.js';
import { EmbeddedPostgres } from './database/embedded-postgres.js';

async function main(): Promise<void> {
  await ConfigModule.forRoot({ load: [appConfig], cache: true });
  const config = appConfig();
  const embedded = config.databaseUrl ? undefined : await EmbeddedPostgres.start(config.dataDir);
  let app;
  try {
    app = await createApp({
      ...config,
      databaseUrl: config.databaseUrl ?? embedded!.url,
      embedded: embedded !== undefined,
      tokenEncryptionKey: resolveTokenKey(config),
    });
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  const logger = app.get(Logger);
  if (config.webhooks.allowInsecureUrls) {
    logger.warn('WEBHOOK_ALLOW_INSECURE_URLS is true: webhook endpoints may be http:// and reach loopback, private and metadata addresses (for tests and local development only)');
  }
  for (const name of insecureSettings(config)) {
    logger.warn(`${name} is plain http:// to another host: links, OAuth codes and tokens cross the network unencrypted (use https:// outside a test network)`);
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.log(`${signal} received, shutting down`);
    flushLogs();
    // A last resort, under an orchestrator's usual 30 s before its SIGKILL: the line says what held the
    // shutdown. What was under way is then as after a kill (leases lapse, and it is done again).
    let phase = 'closing the application (requests, webhook deliveries and jobs under way)';
    setTimeout(() => {
      logger.error(`Shutdown did not finish within SHUTDOWN_TIMEOUT_MS (${config.shutdownTimeoutMs} ms) while ${phase}: exiting with 1`);
      flushLogs();
      process.exit(1);
    }, config.shutdownTimeoutMs);
    await app.close();
    phase = 'stopping the embedded database';
    await embedded?.stop();
    flushLogs();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await app.listen(config.port, config.host);
  const { port } = app.getHttpServer().address() as AddressInfo;
  // 0.0.0.0 and :: are where the service listens, not addresses a browser can open.
  const base = `http://${['0.0.0.0', '::'].includes(config.host) ? 'localhost' : config.host}:${port}`;
  logger.log(`Listening on ${base}`);
  const adminKey = (await app.get(ApiKeysService).hasActiveAdminKey())
    ? 'an active admin key exists'
    : 'NO active admin key: restart with BOOTSTRAP_API_KEY=<16+ characters> to register one';
  const database = embedded ? `embedded PostgreSQL, data in ${config.dataDir} (set DATABASE_URL to use your own)` : 'PostgreSQL at DATABASE_URL';
  logger.log(`Ready: API ${base}/api/v1, docs ${base}/docs; ${database}; ${adminKey}`);
  // The lines a person is waiting for appear at once; request lines are written within a second.
  flushLogs();
}

main().catch((error: unknown) => {
  // A configuration error is one line naming the variable; anything else is a start-up failure.
  const message = error instanceof ConfigError ? `Configuration error: ${error.message}` : `Start-up failed: ${String(error)}`;
  flushLogs();
  process.stderr.write(`${message}\n`);
  process.exit(1);
});
