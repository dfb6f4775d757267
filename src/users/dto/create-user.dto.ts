import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, Length, Matches } from 'class-validator';
import { UUID_PATTERN } from '../../common/validation.js';

export class CreateUserDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'A client may bring its own id; one is generated otherwise' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'id must be a UUID' })
  id?: string;

  @ApiPropertyOptional({ description: 'The id the health app knows this user by (unique)', example: 'app-user-42' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  external_user_id?: string;

  @ApiPropertyOptional({ format: 'email', example: 'john@example.com' })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an email address' })
  @Length(1, 320)
  email?: string;
}
