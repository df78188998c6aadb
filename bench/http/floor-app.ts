// The HTTP floor: the least work that serves the PlanOut route's contract, written by hand for
// Exp1 only. Per request: the unit from the query and Exp1's three SHA-1 draws (the reference's
// hash of salt.param.unit); per unit (a first exposure), one record serialized and appended to a
// file in batches. No exposure cache beyond a bounded set of units, no record id, no metrics, no
// safety net: what is left when everything that is not the floor (issue 15) is removed.
// With `ids` (the `floor_ids` route), each record also carries the deterministic id issue 14
// requires of every record (a UUID v5 of the experiment, the event and the canonical assignment),
// its text written by hand for Exp1's one record shape and hashed with the library's uuidV5.
// bench/suites/http.ts compares the PlanOut route with both; the server checks their draws
// against Exp1, and their ids against the library's, before it listens.
import { openSync, write, closeSync } from 'node:fs';
import { Controller, createParamDecorator, Get, Injectable, Query, Req, type CallHandler, type DynamicModule, type ExecutionContext, type NestInterceptor, type OnApplicationShutdown } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { asciiPrefixBytes, hash60Mod, hash60OfText, hash60UnitFloat } from '../../src/core/hash.js';
import { uuidV5 } from '../../src/nest/record-id.js';

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

/**
 * The record id of Exp1's exposure of `unit` (a string input `userid`): the canonical text
 * (salt, checksum, inputs, params with sorted keys) written out directly for this one shape.
 */
export function floorExposureId(unit: string, params: Exp1Params, checksum: string): string {
  const text =
    'Exp1\nexposure\n["Exp1",' +
    JSON.stringify(checksum) +
    ',{"userid":' +
    JSON.stringify(unit) +
    '},{"group_size":' +
    params.group_size +
    ',"ratings_goal":' +
    params.ratings_goal +
    ',"specific_goal":' +
    params.specific_goal +
    '}]';
  return uuidV5(text);
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

/**
 * Diagnostic (`floor_ids_params`): one of the floor's params, read in the handler through a custom
 * param decorator as the `@Param` route reads each of its three, so Nest runs its per-param
 * machinery (an ExecutionContextHost and a factory call per param) for the floor too.
 */
const FloorParam = createParamDecorator((key: keyof Exp1Params, context: ExecutionContext) => context.switchToHttp().getRequest<FloorRequest>()[FLOOR_PARAMS]![key]);

@Controller()
class FloorParamsController {
  @Get('r')
  r(
    @Query('u') u: string,
    @FloorParam('group_size') group_size: number,
    @FloorParam('specific_goal') specific_goal: number,
    @FloorParam('ratings_goal') ratings_goal: number,
  ): Exp1Params & { u: string } {
    return { u, group_size, specific_goal, ratings_goal };
  }
}

/** The floor route (with `ids`, the floor with record ids); `customParams` reads its params as {@link FloorParamsController} does. */
export function floorApp(logFile: string, checksum: string, ids = false, customParams = false): DynamicModule {
  const log = new FloorLog(logFile);
  const exposed = new Set<string>();
  // Records are serialized off the request path, in batches every 5 ms, as the library does:
  // on two vCPUs shared with the load generator, per-request work makes every response dearer.
  let units: string[] = [];
  let drawn: Exp1Params[] = [];
  let times: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  const drain = (): void => {
    timer = undefined;
    for (let i = 0; i < units.length; i++) {
      const userid = units[i]!;
      const params = drawn[i]!;
      const record = { name: 'Exp1', salt: 'Exp1', inputs: { userid }, params, event: 'exposure', time: times[i]!, checksum };
      log.append(JSON.stringify(ids ? { ...record, id: floorExposureId(userid, params, checksum) } : record));
    }
    units = [];
    drawn = [];
    times = [];
  };

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
        units.push(userid);
        drawn.push(params);
        times.push(Math.floor(Date.now() / 1000));
        timer ??= setTimeout(drain, 5);
      }
      return next.handle();
    }

    onApplicationShutdown(): void {
      clearTimeout(timer);
      drain();
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

  return { module: class FloorApp {}, controllers: [customParams ? FloorParamsController : FloorController], providers: [{ provide: APP_INTERCEPTOR, useClass: FloorInterceptor }] };
}
