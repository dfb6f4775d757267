import type { Provider } from '../connections/providers.js';
import { coros } from './coros.provider.js';
import { fitbit } from './fitbit.provider.js';
import { garmin } from './garmin.provider.js';
import { oura } from './oura.provider.js';
import { polar } from './polar.provider.js';
import type { ProviderAdapter } from './provider-adapter.js';
import { strava } from './strava.provider.js';
import { suunto } from './suunto.provider.js';
import { whoop } from './whoop.provider.js';
import { withings } from './withings.provider.js';

/** Every provider's adapter: one file each, in this folder. */
export const ADAPTERS: Readonly<Record<Provider, ProviderAdapter>> = { garmin, strava, polar, suunto, whoop, oura, fitbit, withings, coros };
