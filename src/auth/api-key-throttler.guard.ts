import { Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { Principal } from './api-keys.service.js';

/**
 * The per-key request limit. It runs after ApiKeyGuard, so a request here carries its key's
 * principal; one counter covers every route the key calls.
 */
@Injectable()
export class ApiKeyThrottlerGuard extends ThrottlerGuard {
  protected override async getTracker(request: { principal?: Principal; ip: string }): Promise<string> {
    return request.principal ? `key:${request.principal.keyId}` : `ip:${request.ip}`;
  }

  protected override generateKey(_context: unknown, tracker: string, name: string): string {
    return `${name}:${tracker}`;
  }
}
