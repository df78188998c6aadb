import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Req, Res, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { Param, PlanoutService, type PlanoutModuleOptions } from '../../src/index.js';
import { PlanoutRegistry } from '../../src/nest/planout.registry.js';
import { attachedTo, rawRequest, RequestState } from '../../src/nest/request-context.js';
import { PlanoutTestingModule } from '../../src/testing/index.js';
import { ColorExperiment, Exp1, GroupSizes, testInputs } from './fixtures.js';
import { createApp, PLATFORMS } from './support.js';

// What a request keeps attached (its context's state) must not reach the request or the
// response: on Express it lives in a WeakMap entry, whose value V8's young-generation GC
// keeps alive, with all it reaches, through one more collection (request-context.ts).

interface Seen {
  request: object;
  response: object;
  attached: unknown;
}
let seen: Seen | undefined;

@Controller()
class HoldingController {
  @Get('held')
  held(
    @Req() req: object,
    @Res({ passthrough: true }) res: object,
    @Param(ColorExperiment, 'color') color: string,
    @Param(Exp1, 'group_size') groupSize: number,
  ): Record<string, unknown> {
    seen = { request: req, response: res, attached: attachedTo(rawRequest(req)) };
    return { color, groupSize };
  }
}

/** Every object `root` reaches through own data properties, array items and Map/Set entries, except `skip`. */
function reachable(root: unknown, skip: ReadonlySet<object>): Set<object> {
  const found = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) continue;
    if (found.has(value) || skip.has(value)) continue;
    found.add(value);
    if (value instanceof Map) for (const [k, v] of value) stack.push(k, v);
    if (value instanceof Set) for (const v of value) stack.push(v);
    for (const key of Reflect.ownKeys(value)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      if (descriptor !== undefined && 'value' in descriptor) stack.push(descriptor.value);
    }
  }
  return found;
}

describe.each(PLATFORMS)('a request’s attached state on %s', (platform) => {
  let app: INestApplication | undefined;

  afterEach(async () => {
    await app?.close();
    app = undefined;
    seen = undefined;
  });

  it.each([false, true])('holds the experiments built, and reaches neither the request nor the response (asyncContext %s)', async (asyncContext) => {
    const options: PlanoutModuleOptions = { experiments: [Exp1, ColorExperiment], inputs: testInputs, asyncContext };
    app = await createApp(platform, { imports: [PlanoutTestingModule.forRoot(options)], controllers: [HoldingController], providers: [GroupSizes, Exp1] });
    const response = await request(app.getHttpServer()).get('/held?userid=42').expect(200);
    expect(response.body).toEqual({ color: expect.any(String), groupSize: expect.any(Number) });

    const { request: req, response: res, attached } = seen!;
    expect(attached).toBeInstanceOf(RequestState);
    const state = attached as RequestState;
    expect(new Set(state.experiments?.keys())).toEqual(new Set([ColorExperiment, Exp1]));
    // The module's singletons are shared by every request; what matters is what this request's state adds.
    const singletons = new Set<object>([app.get(PlanoutRegistry), app.get(PlanoutService)]);
    const objects = reachable(state, singletons);
    expect(objects.size).toBeGreaterThan(4); // the walk did go through the experiments
    const requestObjects = [req, res, rawRequest(req), (res as { raw?: object }).raw ?? res];
    for (const object of requestObjects) expect(objects.has(object)).toBe(false);
  });
});
