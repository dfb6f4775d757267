import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayNotEmpty, ArrayUnique, IsArray, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { IsIsoTime } from '../../common/iso-time.validator.js';
import { type Scope, SCOPES } from '../scopes.js';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'dashboard backend', maxLength: 100 })
  @IsString()
  @Length(1, 100)
  name: string;

  @ApiProperty({ enum: SCOPES, isArray: true, description: 'write includes read; admin includes both', example: ['read'] })
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique()
  @ArrayMaxSize(SCOPES.length)
  @IsIn(SCOPES, { each: true, message: `scopes must each be one of: ${SCOPES.join(', ')}` })
  scopes: Scope[];

  @ApiPropertyOptional({ format: 'date-time', description: 'When the key stops working; never if absent' })
  @IsOptional()
  @IsIsoTime()
  expires_at?: string;
}
