import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { PlanoutModule, type PlanoutModuleOptions } from '../../../src/index.js';
import { ColorExperiment, DeepService, Exp1, GroupSizes, TestController, testInputs } from '../../e2e/fixtures.js';

/**
 * A real Nest app on Express, listening on a local port, with the e2e fixtures' routes:
 * `GET /param?userid=u` reads Exp1 and so logs one exposure for unit `u`.
 */
export async function startFaultApp(options: PlanoutModuleOptions): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [PlanoutModule.forRoot({ experiments: [Exp1, ColorExperiment], inputs: testInputs, ...options })],
    controllers: [TestController],
    providers: [GroupSizes, Exp1, DeepService],
  }).compile();
  const app = moduleRef.createNestApplication(new ExpressAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

/** GET `url`; the status, or 0 when the request failed (refused, reset). Never rejects. */
export async function get(url: string): Promise<number> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Requests `/param` for each unit (at most `concurrency` at a time); the units answered 200. */
export async function hitUnits(base: string, units: readonly string[], concurrency = 16): Promise<string[]> {
  const ok: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < units.length) {
      const unit = units[next++]!;
      if ((await get(`${base}/param?userid=${encodeURIComponent(unit)}`)) === 200) ok.push(unit);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ok;
}

export function units(prefix: string, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
}
