export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** `write` includes `read`; `admin` includes both. */
const GRANTS: Record<Scope, readonly Scope[]> = {
  read: ['read'],
  write: ['read', 'write'],
  admin: ['read', 'write', 'admin'],
};

export function grants(held: readonly Scope[], needed: Scope): boolean {
  return held.some((scope) => GRANTS[scope]?.includes(needed));
}
