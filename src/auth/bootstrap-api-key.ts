import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApiKeysService } from './api-keys.service.js';
import { AUTH_OPTIONS, type AuthOptions } from './auth.options.js';

/**
 * At start-up: registers BOOTSTRAP_API_KEY as an admin key; with none set and no key at all, makes
 * one and prints it once. Keys but no active admin key among them (all revoked or expired,
 * BOOTSTRAP_API_KEY's too: a revoked key stays revoked) is a warning saying how to get one back.
 */
@Injectable()
export class BootstrapApiKey implements OnApplicationBootstrap {
  private readonly logger = new Logger('ApiKeys');

  constructor(
    private readonly apiKeys: ApiKeysService,
    @Inject(AUTH_OPTIONS) private readonly options: AuthOptions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const bootstrapKey = this.options.bootstrapApiKey;
    if (bootstrapKey) {
      if (await this.apiKeys.register('bootstrap', bootstrapKey, ['admin'])) this.logger.log('Registered BOOTSTRAP_API_KEY as an admin key');
    } else if ((await this.apiKeys.count()) === 0) {
      const { key } = await this.apiKeys.create('generated at first start', ['admin']);
      // Written to the terminal once, outside the logger, so that no log pipeline keeps it.
      process.stdout.write(
        `\nNo API key existed, so an admin key was created. It is shown this once and stored only as a hash:\n\n` +
          `    ${key}\n\n` +
          `Send it in the X-API-Key header, e.g.\n` +
          `    curl -H "X-API-Key: ${key}" http://localhost:3000/api/v1/users\n\n`,
      );
      return;
    }
    if (!(await this.apiKeys.hasActiveAdminKey())) {
      this.logger.warn(
        'No active admin API key: each key is revoked, expired or without the admin scope' +
          (bootstrapKey ? ', the one in BOOTSTRAP_API_KEY included (a revoked key stays revoked)' : '') +
          '. To get one back, restart with BOOTSTRAP_API_KEY=<a new secret of 16+ characters>: it is registered as an admin key',
      );
    }
  }
}
