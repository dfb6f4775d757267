/** The environment, as the loaders read it. */
export type Env = Record<string, string | undefined>;

/** A variable that is not what it must be: the message names the variable (never a secret's value). */
export class ConfigError extends Error {}

/** An integer variable from `min` to `max`; `fallback` when unset or empty. */
export function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

/** true/false (or 1/0, yes/no), any case; `fallback` when unset or empty. */
export function flag(env: Env, name: string, fallback = false): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (['1', 'true', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/** A comma-separated list of at most 20 delays in seconds, each above 0 and at most a day; `fallback` when unset or empty. */
export function delays(env: Env, name: string, fallback: number[]): number[] {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.length > 20 || values.some((value) => !Number.isFinite(value) || value <= 0 || value > 86_400)) {
    throw new ConfigError(`${name} must be a comma-separated list of at most 20 delays in seconds, each above 0 and at most 86400, got "${raw}"`);
  }
  return values;
}
