import { ApiKey } from './auth/api-key.entity.js';
import { ConnectAttempt } from './connect/connect-attempt.entity.js';
import { ConnectSession } from './connect/connect-session.entity.js';
import { Connection } from './connections/connection.entity.js';
import { Job } from './jobs/job.entity.js';
import { RefreshAttempt } from './refresh/refresh-attempt.entity.js';
import { User } from './users/user.entity.js';
import { WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent } from './webhooks/webhook.entities.js';

/**
 * Every entity, for the TypeORM CLI (`migration:generate`, ormconfig.ts) and the schema test. The
 * application does not need the list: each feature module registers its own entities.
 */
export const ENTITIES = [User, Connection, ApiKey, ConnectSession, ConnectAttempt, Job, RefreshAttempt, WebhookEndpoint, WebhookEvent, WebhookDelivery, WebhookAttempt];
