import { InitialSchema1795500797379 } from './1795500797379-InitialSchema.js';
import { ConnectionLifecycle1795501700414 } from './1795501700414-ConnectionLifecycle.js';
import { KeyLabelsFromHash1795510000000 } from './1795510000000-KeyLabelsFromHash.js';
import { RevokedConnectionsHoldNoTokens1795510000001 } from './1795510000001-RevokedConnectionsHoldNoTokens.js';
import { ConnectSessions1795520000000 } from './1795520000000-ConnectSessions.js';
import { RefreshAndJobs1795530000000 } from './1795530000000-RefreshAndJobs.js';
import { ConnectionStates1795540000000 } from './1795540000000-ConnectionStates.js';
import { Webhooks1795550000000 } from './1795550000000-Webhooks.js';
import { WebhookDeliveriesDueByEndpoint1795560000000 } from './1795560000000-WebhookDeliveriesDueByEndpoint.js';
import { ProviderAccountIndexPartial1795570000000 } from './1795570000000-ProviderAccountIndexPartial.js';

/** Every migration, oldest first. Listed by class (not by glob) so tests, the app and the CLI load the same set. */
export const migrations = [
  InitialSchema1795500797379,
  ConnectionLifecycle1795501700414,
  KeyLabelsFromHash1795510000000,
  RevokedConnectionsHoldNoTokens1795510000001,
  ConnectSessions1795520000000,
  RefreshAndJobs1795530000000,
  ConnectionStates1795540000000,
  Webhooks1795550000000,
  WebhookDeliveriesDueByEndpoint1795560000000,
  ProviderAccountIndexPartial1795570000000,
];
