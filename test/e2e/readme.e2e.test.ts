import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { InMemorySink, LogSink } from '../../src/index.js';
import { getPlanoutRecorder } from '../../src/testing/index.js';
import { Assignment, BernoulliTrial, Experiment, UniformChoice, type PlanoutLogRecord } from '../../src/core/index.js';
import { AppModule } from '../../sample-app/app.module.js';
import { createApp } from './support.js';

// Every output README shows comes from running the code: this test runs README's
// documented requests and examples and compares with what README prints.
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

interface DocumentedRequest {
  line: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  expected: string;
}

/** Fenced blocks of one language, in order. */
function codeBlocks(language: string): string[] {
  const blocks: string[] = [];
  const fence = new RegExp('^```' + language + '\\n([\\s\\S]*?)^```', 'gm');
  for (const match of README.matchAll(fence)) blocks.push(match[1]);
  return blocks;
}

/** `curl ... 'localhost:3000/...'` lines of sh blocks, each followed by `# <response body>`. */
function documentedRequests(): DocumentedRequest[] {
  const out: DocumentedRequest[] = [];
  for (const block of codeBlocks('sh')) {
    const lines = block.split('\n');
    lines.forEach((line, i) => {
      const url = /^curl .*'(?:http:\/\/)?localhost:3000(\/[^']*)'/.exec(line);
      const next = lines[i + 1] ?? '';
      if (!url || !next.startsWith('# ')) return;
      const headers: Record<string, string> = {};
      for (const h of line.matchAll(/-H '([^:']+):\s*([^']*)'/g)) headers[h[1].toLowerCase()] = h[2];
      const body = /-d '([^']*)'/.exec(line)?.[1];
      const method = /-X (\w+)/.exec(line)?.[1] ?? (body !== undefined ? 'POST' : 'GET');
      out.push({ line, method, path: url[1], headers, body, expected: next.slice(2) });
    });
  }
  return out;
}

describe('README outputs', () => {
  let app: INestApplication;

  beforeAll(async () => {
    app = await createApp('express', { imports: [AppModule] }, (b) => b.overrideProvider(LogSink).useValue(new InMemorySink()));
  });
  afterAll(async () => app.close());

  const requests = documentedRequests();

  it('documents sample requests with their responses', () => {
    expect(requests.length).toBeGreaterThanOrEqual(3);
  });

  it.each(requests.map((r) => [r.line, r] as const))('%s', async (_line, r) => {
    const recorder = getPlanoutRecorder(app);
    await recorder.flush();
    recorder.clear();
    let call = request(app.getHttpServer())[r.method.toLowerCase() as 'get' | 'post'](r.path);
    for (const [name, value] of Object.entries(r.headers)) call = call.set(name, value);
    const response = await (r.body !== undefined ? call.send(JSON.parse(r.body)) : call);
    // 200 unless the line's comment says otherwise ("HTTP 404").
    expect(response.status).toBe(Number(/# .*HTTP (\d{3})/.exec(r.line)?.[1] ?? 200));
    // Compared as text: README shows the exact body, key order included.
    expect(response.text).toBe(r.expected);
    // What the line's comment says about the log holds too.
    await recorder.flush();
    if (/# .*no record/.test(r.line)) expect(recorder.records).toEqual([]);
    if (/# .*one exposure record/.test(r.line)) expect(recorder.records.map((x) => x.event)).toEqual(['exposure']);
  });

  it("shows the records the core Exp1 example logs for unit u-42", () => {
    const example = codeBlocks('ts').find((b) => b.includes('class Exp1 extends Experiment'));
    // The class below is README's example; these are the lines that decide its params.
    for (const line of ["this.name = 'Exp1'", 'choices: [1, 10]', 'p: 0.8', 'choices: [8, 16, 32, 64]', "{ userid: 'u-42' }", "logEvent('conversion', { amount: 9.99 })"]) {
      expect(example).toContain(line);
    }
    const block = codeBlocks('json').find((b) => b.includes('"userid":"u-42"'));
    expect(block).toBeDefined();
    const shown = block!.trim().split('\n').map((line) => JSON.parse(line) as PlanoutLogRecord);

    type Params = { group_size: number; specific_goal: number; ratings_per_user_goal: number; ratings_goal: number };
    const logged: PlanoutLogRecord[] = [];
    class Exp1 extends Experiment<Params, { userid: string }> {
      protected override setup() {
        this.name = 'Exp1';
      }
      assign(params: Assignment<Params>, { userid }: { userid: string }) {
        params.set('group_size', new UniformChoice({ choices: [1, 10], unit: userid }));
        params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: userid }));
        if (params.get('specific_goal')) {
          params.set('ratings_per_user_goal', new UniformChoice({ choices: [8, 16, 32, 64], unit: userid }));
          params.set('ratings_goal', params.get('group_size')! * params.get('ratings_per_user_goal')!);
        }
      }
      protected override log(record: PlanoutLogRecord) {
        logged.push(record);
      }
    }
    const exp = new Exp1({ userid: 'u-42' });
    exp.get('group_size');
    exp.logEvent('conversion', { amount: 9.99 });
    expect(logged).toHaveLength(shown.length);
    logged.forEach((record, i) => {
      // Key order too: README shows the records as JSON.stringify writes them. The time is
      // the logging second and the checksum hashes the compiled assign source: README says
      // both vary, so only their form is checked.
      const withoutVarying = (r: PlanoutLogRecord) => JSON.stringify({ ...r, time: 0, checksum: '' });
      expect(withoutVarying(record)).toBe(withoutVarying(shown[i]));
      expect(Number.isInteger(shown[i].time)).toBe(true);
      expect(shown[i].checksum).toMatch(/^[0-9a-f]{8}$/);
      expect(shown[i].checksum).toBe(shown[0].checksum);
    });
  });
});
