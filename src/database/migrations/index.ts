import { InitialSchema1795500797379 } from './1795500797379-InitialSchema.js';
import { ConnectionLifecycle1795501700414 } from './1795501700414-ConnectionLifecycle.js';

/** Every migration, oldest first. Listed by class (not by glob) so tests, the app and the CLI load the same set. */
export const migrations = [InitialSchema1795500797379, ConnectionLifecycle1795501700414];
