// The HTTP floor: the least work that serves the PlanOut route's contract, written by hand for
// Exp1 only. Per request: the unit from the query and Exp1's three SHA-1 draws (the reference's
// hash of salt.param.unit); per unit (a first exposure), one record serialized and appended to a
// file in batches. No exposure cache beyond a bounded set of units, no record id, no metrics, no
// safety net: what is left when everything that is not the floor (issue 15) is removed.
// bench/suites/http.ts compares the PlanOut route with it; the server checks its draws against
// Exp1 before it listens.
import { openSync, write, closeSync } from 'node:fs';
import { Controller, Get, Injectable, Query, Req, type CallHandler, type DynamicModule, type ExecutionContext, type NestInterceptor, type OnApplicationShutdown } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { asciiPrefixBytes, hash60Mod, hash60OfText, hash60UnitFloat } from '../../src/core/hash.js';

type Exp1Params = { group_size: number; specific_goal: number; ratings_goal: number };
const FLOOR_PARAMS = Symbol('floorParams');
type FloorRequest = { query: Record<string, unknown>; [FLOOR_PARAMS]?: Exp1Params };

// The draws hash with the library's own SHA-1 routine (a JavaScript SHA-1 for one-block
// inputs, faster than a node:crypto call there): the floor hashes no slower than ours.
const GROUP_SIZE = 'Exp1.group_size.';
const SPECIFIC_GOAL = 'Exp1.specific_goal.';
const RATINGS_GOAL = 'Exp1.ratings_goal.';
const GROUP_SIZE_BYTES = asciiPrefixBytes(GROUP_SIZE)!;
const SPECIFIC_GOAL_BYTES = asciiPrefixBytes(SPECIFIC_GOAL)!;
const RATINGS_GOAL_BYTES = asciiPrefixBytes(RATINGS_GOAL)!;
const GROUP_SIZES = [1, 10];
const RATINGS = [8, 16, 32, 64];
const RATING_WEIGHTS = [0.4, 0.3, 0.2, 0.1];

/** Exp1 by hand: UniformChoice [1, 10], BernoulliTrial 0.8, WeightedChoice [8, 16, 32, 64] / [0.4, 0.3, 0.2, 0.1]. */
export function floorExp1(unit: string): Exp1Params {
  hash60OfText(GROUP_SIZE_BYTES, GROUP_SIZE, unit);
  const group_size = GROUP_SIZES[hash60Mod(2)]!;
  hash60OfText(SPECIFIC_GOAL_BYTES, SPECIFIC_GOAL, unit);
  const specific_goal = hash60UnitFloat() <= 0.8 ? 1 : 0;
  hash60OfText(RATINGS_GOAL_BYTES, RATINGS_GOAL, unit);
  const stop = hash60UnitFloat();
  let cumulative = 0;
  let ratings_goal = 0;
  for (let i = 0; i < RATINGS.length; i++) {
    cumulative += RATING_WEIGHTS[i]!;
    if (stop <= cumulative) {
      ratings_goal = RATINGS[i]!;
      break;
    }
  }
  return { group_size, specific_goal, ratings_goal };
}

const FLUSH_CHARS = 64 * 1024;

/** Appends lines to a file, one write per 64 KiB or per second. */
class FloorLog {
  private readonly fd: number;
  private buffered = '';
  private writing = false;
  private readonly timer: NodeJS.Timeout;

  constructor(path: string) {
    this.fd = openSync(path, 'a');
    this.timer = setInterval(() => this.flush(), 1000);
  }

  append(line: string): void {
    this.buffered += line + '\n';
    if (this.buffered.length >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    if (this.writing || this.buffered.length === 0) return;
    const text = this.buffered;
    this.buffered = '';
    this.writing = true;
    write(this.fd, text, () => {
      this.writing = false;
    });
  }

  close(): void {
    clearInterval(this.timer);
    if (this.buffered.length > 0) {
      const text = this.buffered;
      this.buffered = '';
      write(this.fd, text, () => closeSync(this.fd));
    }
  }
}

export function floorApp(logFile: string, checksum: string): DynamicModule {
  const log = new FloorLog(logFile);
  const exposed = new Set<string>();

  @Injectable()
  class FloorInterceptor implements NestInterceptor, OnApplicationShutdown {
    intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
      const request = context.switchToHttp().getRequest<FloorRequest>();
      const userid = String(request.query.u);
      const params = floorExp1(userid);
      request[FLOOR_PARAMS] = params;
      if (!exposed.has(userid)) {
        // Bounded like the default exposure cache (100 000 entries), the cheapest way.
        if (exposed.size >= 100_000) exposed.clear();
        exposed.add(userid);
        const time = Math.floor(Date.now() / 1000);
        log.append(JSON.stringify({ name: 'Exp1', salt: 'Exp1', inputs: { userid }, params, event: 'exposure', time, checksum }));
      }
      return next.handle();
    }

    onApplicationShutdown(): void {
      log.close();
    }
  }

  @Controller()
  class FloorController {
    @Get('r')
    r(@Query('u') u: string, @Req() request: FloorRequest): Exp1Params & { u: string } {
      return { u, ...request[FLOOR_PARAMS]! };
    }
  }

  return { module: class FloorApp {}, controllers: [FloorController], providers: [{ provide: APP_INTERCEPTOR, useClass: FloorInterceptor }] };
}
