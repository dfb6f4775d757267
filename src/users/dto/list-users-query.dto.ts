import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';

const CURSOR_INVALID = 'cursor is not valid; pass the next_cursor of a previous page';

export class ListUsersQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 200, default: 50, description: 'Users per page' })
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'limit must be an integer from 1 to 200' })
  @Min(1, { message: 'limit must be an integer from 1 to 200' })
  @Max(200, { message: 'limit must be an integer from 1 to 200' })
  limit: number = 50;

  // A next_cursor is 48 characters; the limit leaves room without letting a huge one be decoded.
  @ApiPropertyOptional({ description: 'The next_cursor of the previous page', minLength: 1, maxLength: 64 })
  @IsOptional()
  @IsString({ message: 'cursor must be a string' })
  @MaxLength(64, { message: CURSOR_INVALID })
  cursor?: string;
}
