import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AppModule } from './app.module.js';

// PLANOUT_PLATFORM=fastify serves the same app on Fastify.
async function bootstrap(): Promise<void> {
  const app =
    process.env.PLANOUT_PLATFORM === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter())
      : await NestFactory.create(AppModule);
  // On SIGTERM/SIGINT: stop serving, then write the records still buffered.
  app.enableShutdownHooks();
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '0.0.0.0');
  console.log(`nestjs-planout sample listening on http://localhost:${port}`);
}

void bootstrap();
