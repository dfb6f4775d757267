import type { Provider } from '../connections/providers.js';
import type { ProviderNotice } from '../providers/provider-adapter.js';

/** The durable work item a provider's notice becomes: its notices, read and bounded, processed in the background. */
export const PROVIDER_NOTICE_JOB = 'provider.notice';

export interface ProviderNoticePayload {
  provider: Provider;
  notices: ProviderNotice[];
}

/** At most this many accounts in one notice (Garmin batches them); a larger body is refused with 413. */
export const MAX_NOTICES = 1000;
