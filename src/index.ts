/**
 * What another Nest application uses: the module to import, the service its modules inject, the
 * events they listen to, the errors the service throws, and the types of its arguments and answers.
 */
export { type RuntimeConfig, type WearableConnectionsOptions, WearableConnectionsModule } from './wearable-connections.module.js';
export { type AdapterLimits, adapterOptions } from './common/http-hooks.js';
export { ConfigError, loadConfig } from './config/app.config.js';
export { Public } from './auth/public.decorator.js';
export {
  type ConnectionFilter,
  type CurrentTokens,
  type Grant,
  type ImportedConnection,
  type Refresher,
  type RefreshOutcome,
  type RefreshResult,
  ConnectionsService,
} from './connections/connections.service.js';
export { CONNECTION_EVENTS, type ConnectionEvent, STATUS_REASONS, type StatusReason } from './connections/connection.events.js';
export { AccountInUseError, ConnectionNotActiveError, ConnectionNotFoundError } from './connections/connection.errors.js';
export { UserNotFoundError } from './users/user.errors.js';
export type { ConnectionResponse } from './connections/dto/connection-response.js';
export { CONNECTION_STATUSES, type ConnectionStatus, PROVIDERS, type Provider } from './connections/providers.js';
