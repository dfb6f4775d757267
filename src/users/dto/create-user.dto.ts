import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsEmail, IsOptional, IsString, Length, Matches } from 'class-validator';
import { ApiRequestBody, UUID_SCHEMA } from '../../common/api-docs.js';
import { UUID_PATTERN } from '../../common/validation.js';

@ApiRequestBody('UserInput', 'A user to create; every field is optional. Unknown fields are rejected (400).')
export class CreateUserDto {
  @ApiPropertyOptional({ ...UUID_SCHEMA, description: 'A client may bring its own id; one is generated otherwise' })
  @IsOptional()
  @Matches(UUID_PATTERN, { message: 'id must be a UUID' })
  id?: string;

  @ApiPropertyOptional({ description: 'The id the health app knows this user by (unique)', minLength: 1, maxLength: 255, example: 'app-user-42' })
  @IsOptional()
  @IsString()
  @Length(1, 255)
  external_user_id?: string;

  @ApiPropertyOptional({ format: 'email', minLength: 1, maxLength: 320, example: 'john@example.com' })
  @IsOptional()
  @IsEmail({}, { message: 'email must be an email address' })
  @Length(1, 320)
  email?: string;
}
