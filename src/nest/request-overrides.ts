import { Logger, type ExecutionContext } from '@nestjs/common';
import { PlanoutError } from '../core/errors.js';
import type { PlanoutOverridesOptions, PlanoutRequest } from './planout-options.interface.js';
import type { PlanoutMetrics } from './planout-metrics.js';
import { PLANOUT_LOG_CONTEXT } from './planout.constants.js';
import { parseUnsignedOverrides, verifyPlanoutOverrides, type PlanoutOverrides } from './qa-overrides.js';

export const DEFAULT_OVERRIDES_HEADER = 'x-planout-overrides';
/** Shortest accepted `overrides.secret`. */
export const MIN_OVERRIDES_SECRET_LENGTH = 16;
// Tolerated clock difference between the machine that signs and this one, for maxAgeSeconds.
const CLOCK_SKEW_SECONDS = 60;
const WARN_INTERVAL_MS = 10_000;

/**
 * Reads the QA overrides of a request from the configured header (or query parameter):
 * a signed token when a secret is configured, plain JSON when the `allow` predicate
 * accepts the request. Anything else is ignored, counted (`overridesRejected`) and
 * logged at most once per 10 s; a request never fails because of it.
 */
export class RequestOverridesReader {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private readonly header: string;
  private lastWarnAt = -Infinity;
  private suppressed = 0;

  constructor(
    private readonly options: PlanoutOverridesOptions,
    private readonly metrics: PlanoutMetrics,
  ) {
    const { secret, allow, header, queryParam, maxAgeSeconds } = options;
    if (secret === undefined && allow === undefined) {
      throw new PlanoutError('the `overrides` option needs a `secret` (signed tokens) or an `allow` predicate (unsigned JSON)');
    }
    if (secret !== undefined && (typeof secret !== 'string' || secret.length < MIN_OVERRIDES_SECRET_LENGTH)) {
      throw new PlanoutError(`overrides.secret must be a string of at least ${MIN_OVERRIDES_SECRET_LENGTH} characters`);
    }
    if (allow !== undefined && typeof allow !== 'function') throw new PlanoutError('overrides.allow must be a function');
    if (header !== undefined && (typeof header !== 'string' || header.length === 0)) {
      throw new PlanoutError('overrides.header must be a non-empty string');
    }
    if (queryParam !== undefined && (typeof queryParam !== 'string' || queryParam.length === 0)) {
      throw new PlanoutError('overrides.queryParam must be a non-empty string');
    }
    if (maxAgeSeconds !== undefined && !(typeof maxAgeSeconds === 'number' && maxAgeSeconds > 0)) {
      throw new PlanoutError('overrides.maxAgeSeconds must be a positive number');
    }
    this.header = (header ?? DEFAULT_OVERRIDES_HEADER).toLowerCase();
  }

  /** The overrides `request` carries and may apply, or undefined. */
  read(request: PlanoutRequest, execution: ExecutionContext | undefined): PlanoutOverrides | undefined {
    const value = this.rawValue(request);
    if (value === undefined) return undefined;
    const overrides = value.trimStart().startsWith('{') ? this.unsigned(value, request, execution) : this.signed(value);
    if (overrides !== undefined) this.metrics.increment('overridesApplied');
    return overrides;
  }

  private rawValue(request: PlanoutRequest): string | undefined {
    const fromHeader = request.headers?.[this.header];
    if (fromHeader !== undefined) {
      // A repeated header is ambiguous: ignore it rather than pick one.
      return typeof fromHeader === 'string' ? fromHeader : this.rejected('repeated header');
    }
    const name = this.options.queryParam;
    if (name === undefined) return undefined;
    const query = request.query;
    if (typeof query !== 'object' || query === null || !Object.hasOwn(query, name)) return undefined;
    const fromQuery = (query as Record<string, unknown>)[name];
    return typeof fromQuery === 'string' ? fromQuery : this.rejected('query parameter is not a single string');
  }

  private signed(token: string): PlanoutOverrides | undefined {
    const secret = this.options.secret;
    if (secret === undefined) return this.rejected('a token, but no overrides.secret is configured');
    const now = Math.floor(Date.now() / 1000);
    const result = verifyPlanoutOverrides(token.trim(), secret, now);
    if (!result.valid) return this.rejected(result.reason);
    const maxAge = this.options.maxAgeSeconds;
    if (maxAge !== undefined && (result.exp === undefined || result.exp > now + maxAge + CLOCK_SKEW_SECONDS)) {
      return this.rejected(`the token must expire within maxAgeSeconds (${maxAge})`);
    }
    return result.experiments;
  }

  private unsigned(text: string, request: PlanoutRequest, execution: ExecutionContext | undefined): PlanoutOverrides | undefined {
    if (this.options.allow === undefined) return this.rejected('unsigned, and no overrides.allow predicate is configured');
    let allowed: boolean;
    try {
      allowed = this.options.allow(request, execution as ExecutionContext) === true;
    } catch (error) {
      return this.rejected(`overrides.allow threw: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (!allowed) return this.rejected('unsigned, and overrides.allow refused the request');
    return parseUnsignedOverrides(text) ?? this.rejected('malformed');
  }

  private rejected(reason: string): undefined {
    this.metrics.increment('overridesRejected');
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) {
      this.suppressed++;
      return undefined;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} more since the last report)` : '';
    this.lastWarnAt = now;
    this.suppressed = 0;
    this.logger.warn(`ignored QA overrides of a request: ${reason}${more}`);
    return undefined;
  }
}
