import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { JsonLinesFileSink, LogSink } from '../src/index.js';
import { AppModule } from './app.module.js';

// PLANOUT_PLATFORM=fastify serves the same app on Fastify.
async function bootstrap(): Promise<void> {
  const app =
    process.env.PLANOUT_PLATFORM === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(AppModule, new FastifyAdapter())
      : await NestFactory.create(AppModule);
  // On SIGTERM/SIGINT: stop serving, then write the records still buffered. Named on
  // purpose: with no arguments Nest would also shut down on SIGHUP, the log rotation signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  // SIGHUP (e.g. logrotate's postrotate): reopen the exposure log at its configured path.
  const sink = app.get(LogSink);
  const logger = new Logger('Sample');
  process.on('SIGHUP', () => {
    if (!(sink instanceof JsonLinesFileSink)) {
      logger.log('SIGHUP: the log sink has no file to reopen');
      return;
    }
    logger.log(`SIGHUP: reopening ${sink.path}`);
    // A failure is logged and counted by the sink, which keeps the records and retries.
    sink.reopen().catch(() => undefined);
  });
  const port = Number(process.env.PORT ?? 3000);
  await app.listen(port, '0.0.0.0');
  console.log(`nestjs-planout sample listening on http://localhost:${port}`);
}

void bootstrap();
