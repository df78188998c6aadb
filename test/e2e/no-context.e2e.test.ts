import 'reflect-metadata';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Catch, Controller, Get, type ArgumentsHost, type ExceptionFilter, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { Param } from '../../src/index.js';
import { Exp1 } from './fixtures.js';
import { createApp } from './support.js';

/** Used only by an app without PlanoutModule. */
@Controller()
class LonelyController {
  @Get('lonely')
  lonely(@Param(Exp1, 'group_size') size: number): Record<string, unknown> {
    return { size };
  }
}

@Catch()
class MessageFilter implements ExceptionFilter {
  catch(error: Error, host: ArgumentsHost): void {
    host.switchToHttp().getResponse<{ status(code: number): { json(body: unknown): void } }>().status(500).json({ message: error.message });
  }
}

describe('a param decorator with no Planout context', () => {
  let app: INestApplication;
  afterAll(async () => app?.close());

  it('fails with an error naming the handler and saying what to do', async () => {
    app = await createApp('express', { controllers: [LonelyController] }, undefined, (a) => a.useGlobalFilters(new MessageFilter()));
    const res = await request(app.getHttpServer()).get('/lonely').expect(500);
    expect(res.body.message).toContain('Experiment "Exp1"');
    expect(res.body.message).toContain('LonelyController.lonely (http)');
    expect(res.body.message).toContain('import PlanoutModule');
    expect(res.body.message).toContain('inheritAppConfig: true');
    expect(res.body.message).toContain('@UseInterceptors(PlanoutInterceptor)');
  });
});
