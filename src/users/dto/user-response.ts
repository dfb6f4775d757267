import { ApiProperty, ApiSchema } from '@nestjs/swagger';
import { isoTime } from '../../common/iso-time.js';
import type { User } from '../user.entity.js';

@ApiSchema({ name: 'User', description: 'A user of the health app' })
export class UserResponse {
  @ApiProperty({ format: 'uuid', example: '550e8400-e29b-41d4-a716-446655440000' })
  id: string;

  @ApiProperty({ type: String, nullable: true, description: 'The id the health app knows this user by', example: 'app-user-42' })
  external_user_id: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'email', example: 'john@example.com' })
  email: string | null;

  @ApiProperty({ format: 'date-time', example: '2023-12-01T09:00:00Z' })
  created_at: string;

  @ApiProperty({ format: 'date-time', example: '2024-03-15T10:30:00Z' })
  updated_at: string;
}

@ApiSchema({ name: 'UserPage', description: 'A page of users, in id order' })
export class UserPageResponse {
  @ApiProperty({ type: [UserResponse] })
  data: UserResponse[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` to get the next page; null on the last page',
    example: 'NTUwZTg0MDAtZTI5Yi00MWQ0LWE3MTYtNDQ2NjU1NDQwMDAw',
  })
  next_cursor: string | null;
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
