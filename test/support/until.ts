/**
 * Polls `check` every `intervalMs` until it answers a truthy value, and resolves to that value; past
 * `timeoutMs`, throws "Timed out waiting for <what>".
 */
export async function until<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, intervalMs = 50): Promise<Exclude<T, false | null | undefined>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as Exclude<T, false | null | undefined>;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
