import { Body, Controller, Delete, Get, HttpCode, Post, Query } from '@nestjs/common';
import { RequireScope } from '../auth/require-scope.decorator.js';
import { UuidParam, validBody, validQuery } from '../common/validation.js';
import { CreateUserDto } from './dto/create-user.dto.js';
import { ListUsersQueryDto } from './dto/list-users-query.dto.js';
import { toUserResponse, type UserResponse } from './user-response.js';
import { UsersService } from './users.service.js';

@Controller('api/v1/users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @RequireScope('write')
  async create(@Body(validBody) dto: CreateUserDto): Promise<UserResponse> {
    return toUserResponse(await this.users.create(dto));
  }

  @Get()
  @RequireScope('read')
  async list(@Query(validQuery) query: ListUsersQueryDto): Promise<{ data: UserResponse[]; next_cursor: string | null }> {
    const page = await this.users.list(query.limit, query.cursor);
    return { data: page.users.map(toUserResponse), next_cursor: page.nextCursor };
  }

  @Get(':user_id')
  @RequireScope('read')
  async get(@UuidParam('user_id') userId: string): Promise<UserResponse> {
    return toUserResponse(await this.users.get(userId));
  }

  @Delete(':user_id')
  @HttpCode(204)
  @RequireScope('write')
  async delete(@UuidParam('user_id') userId: string): Promise<void> {
    await this.users.delete(userId);
  }
}
