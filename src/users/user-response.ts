import { isoTime } from '../common/iso-time.js';
import type { User } from './user.entity.js';

export interface UserResponse {
  id: string;
  external_user_id: string | null;
  email: string | null;
  created_at: string;
  updated_at: string;
}

export function toUserResponse(user: User): UserResponse {
  return {
    id: user.id,
    external_user_id: user.externalUserId ?? null,
    email: user.email ?? null,
    created_at: isoTime(user.createdAt)!,
    updated_at: isoTime(user.updatedAt)!,
  };
}
