import { randomBytes, randomUUID } from 'node:crypto';
import { BadRequestException, ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { UUID_PATTERN } from '../common/validation.js';
import type { WebhooksConfig } from '../config/webhooks.config.js';
import { TokenCipher } from '../crypto/token-cipher.js';
import { isAllowedAddress, resolveAll } from './webhook-addresses.js';
import type { WebhookBody, WebhookEventType } from './webhook-events.js';
import { newEventId, WebhookOutbox } from './webhook-outbox.js';
import { secretContext, WEBHOOKS_CONFIG } from './webhook-worker.js';
import { type DeliveryRow, type EndpointChanges, type EndpointRow, WebhooksRepository } from './webhooks.repository.js';

/** How long the secret before a rotation still signs. */
const ROTATION_OVERLAP_SECONDS = 86_400;
const PAGE_SIZE = 50;
const NOT_FOUND = 'Webhook endpoint not found';

export interface EndpointInput {
  url: string;
  events?: WebhookEventType[] | null;
  description?: string | null;
}

/**
 * The consumer's webhook endpoints (scope admin): create, change, delete, rotate the secret, send a
 * test, read and retry the deliveries. Secrets are whsec_ and 24 random bytes, stored sealed, shown
 * only when made. An endpoint's URL is checked when it is set, and again at each delivery (WebhookWorker).
 */
@Injectable()
export class WebhooksService {
  constructor(
    private readonly repository: WebhooksRepository,
    private readonly cipher: TokenCipher,
    private readonly outbox: WebhookOutbox,
    @Inject(WEBHOOKS_CONFIG) private readonly config: WebhooksConfig,
  ) {}

  async create(input: EndpointInput): Promise<{ endpoint: EndpointRow; secret: string }> {
    const url = await this.checkedUrl(input.url);
    const id = randomUUID();
    const secret = newSecret();
    const endpoint = await this.repository.insertEndpoint({
      id,
      url,
      events: input.events ?? null,
      description: input.description ?? null,
      secret: this.cipher.encrypt(secret, secretContext(id)),
    });
    return { endpoint, secret };
  }

  list(): Promise<EndpointRow[]> {
    return this.repository.listEndpoints();
  }

  async get(id: string): Promise<EndpointRow> {
    const endpoint = UUID_PATTERN.test(id) ? await this.repository.findEndpoint(id.toLowerCase()) : undefined;
    if (!endpoint) throw new NotFoundException(NOT_FOUND);
    return endpoint;
  }

  async update(id: string, changes: EndpointChanges): Promise<EndpointRow> {
    const endpoint = await this.get(id);
    const url = changes.url === undefined ? undefined : await this.checkedUrl(changes.url);
    const updated = await this.repository.updateEndpoint(endpoint.id, { ...changes, url });
    if (!updated) throw new NotFoundException(NOT_FOUND);
    return updated;
  }

  async delete(id: string): Promise<void> {
    const endpoint = await this.get(id);
    if (!(await this.repository.deleteEndpoint(endpoint.id))) throw new NotFoundException(NOT_FOUND);
  }

  /** A new secret; messages are signed with the old one too for 24 hours. */
  async rotateSecret(id: string): Promise<{ endpoint: EndpointRow; secret: string }> {
    const endpoint = await this.get(id);
    const secret = newSecret();
    const rotated = await this.repository.rotateSecret(endpoint.id, this.cipher.encrypt(secret, secretContext(endpoint.id)), ROTATION_OVERLAP_SECONDS);
    if (!rotated) throw new NotFoundException(NOT_FOUND);
    return { endpoint: rotated, secret };
  }

  /** Queues a webhook.test event for this endpoint alone (enabled or not: it is sent once it is). */
  async test(id: string): Promise<{ deliveryId: string; eventId: string }> {
    const endpoint = await this.get(id);
    const body: WebhookBody = { id: newEventId(), type: 'webhook.test', created_at: new Date().toISOString(), data: { endpoint_id: endpoint.id } };
    const deliveryId = await this.repository.recordFor(endpoint.id, body.id, body.type, JSON.stringify(body));
    if (!deliveryId) throw new NotFoundException(NOT_FOUND);
    this.outbox.wake();
    return { deliveryId, eventId: body.id };
  }

  /** A page of the endpoint's deliveries, newest first; `cursor` is the previous page's next_cursor. */
  async deliveries(id: string, status: string | undefined, cursor: string | undefined): Promise<{ rows: DeliveryRow[]; nextCursor: string | null }> {
    const endpoint = await this.get(id);
    if (status !== undefined && !['pending', 'succeeded', 'failed'].includes(status)) {
      throw new BadRequestException('status must be one of: pending, succeeded, failed');
    }
    const after = cursor === undefined ? null : readCursor(cursor);
    const rows = await this.repository.listDeliveries(endpoint.id, status ?? null, after, PAGE_SIZE + 1);
    const page = rows.slice(0, PAGE_SIZE);
    const last = page.at(-1);
    return { rows: page, nextCursor: rows.length > PAGE_SIZE && last ? writeCursor(last) : null };
  }

  /** Sends the delivery again now (a failed one included); 409 while an attempt is under way. */
  async retry(id: string, deliveryId: string): Promise<DeliveryRow> {
    const endpoint = await this.get(id);
    const known = UUID_PATTERN.test(deliveryId) ? await this.repository.findDelivery(endpoint.id, deliveryId.toLowerCase()) : undefined;
    if (!known) throw new NotFoundException('Delivery not found');
    if (!(await this.repository.retry(endpoint.id, known.id))) throw new ConflictException('The delivery is being sent right now');
    this.outbox.wake();
    return (await this.repository.findDelivery(endpoint.id, known.id))!;
  }

  /** The URL, if it may be an endpoint: https, no credentials, resolving only to allowed addresses (unless WEBHOOK_ALLOW_INSECURE_URLS). */
  private async checkedUrl(raw: string): Promise<string> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new BadRequestException('url must be an absolute URL, such as https://api.example.com/hooks');
    }
    if (url.username || url.password) throw new BadRequestException('url must not contain credentials');
    if (url.hash) throw new BadRequestException('url must not have a fragment');
    if (this.config.allowInsecureUrls) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BadRequestException('url must be http:// or https://');
      return url.href;
    }
    if (url.protocol !== 'https:') throw new BadRequestException('url must be https:// (WEBHOOK_ALLOW_INSECURE_URLS=true allows http:// for local development)');
    let addresses: { address: string }[];
    try {
      addresses = await resolveAll(url.hostname);
    } catch {
      throw new BadRequestException("url's host does not resolve");
    }
    if (addresses.length === 0 || addresses.some((entry) => !isAllowedAddress(entry.address))) {
      throw new BadRequestException('url resolves to an address that is not allowed (loopback, private, link-local or reserved)');
    }
    return url.href;
  }
}

function newSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

function writeCursor(row: DeliveryRow): string {
  return Buffer.from(`${row.cursor_time}|${row.id}`).toString('base64url');
}

function readCursor(cursor: string): { time: string; id: string } {
  const decoded = cursor.length <= 200 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const match = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)\|([0-9a-f-]{36})$/.exec(decoded);
  if (!match || !UUID_PATTERN.test(match[2])) throw new BadRequestException('cursor is not one this API gave');
  return { time: match[1], id: match[2] };
}
