import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module.js';
import { Connection } from './connection.entity.js';
import { ConnectionsController } from './connections.controller.js';
import { ConnectionsRepository } from './connections.repository.js';
import { ConnectionsService } from './connections.service.js';
import { DemoData } from './demo-data.js';
import { ExpirySweep } from './expiry-sweep.js';

/**
 * Connections depend on users (a connection belongs to a user), through UsersService and its events;
 * the users module knows nothing of connections.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Connection]), UsersModule],
  controllers: [ConnectionsController],
  providers: [ConnectionsRepository, ConnectionsService, ExpirySweep, DemoData],
  exports: [ConnectionsService],
})
export class ConnectionsModule {}
