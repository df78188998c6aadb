import type { ExecutionContext } from '@nestjs/common';
import type { EvaluationBudget } from '../core/budget.js';
import type { ExperimentInputs } from '../core/experiment.js';
import type { SimpleNamespace } from '../core/namespace.js';
import type { DefinitionSource } from './definitions/definition-source.js';
import type { ExposureCache } from './exposure-cache.interface.js';
import type { ExperimentType } from './experiment.decorator.js';
import type { LogSink } from './log-sink.interface.js';
import type { PlanoutMetrics } from './planout-metrics.js';

/**
 * The request as the inputs resolver sees it: the common shape of Express and Fastify
 * requests. Annotate the parameter with your framework's type for more.
 */
export interface PlanoutRequest {
  headers: Record<string, string | string[] | undefined>;
  query?: unknown;
  params?: unknown;
  body?: unknown;
  /** Set by authentication middleware such as Passport. */
  user?: unknown;
}

/**
 * Inputs as a request or a message gives them: any of them, units included, may be
 * missing (`undefined` or `null`). Type a resolver's result with it, e.g.
 * `RequestInputs<{ userid: string }>`: the unit is then `string | null | undefined`, never
 * claimed to be a `string`. The module checks units before `assign` runs (see `units`), so
 * `assign` itself may declare `{ userid: string }`.
 */
export type RequestInputs<I extends object = ExperimentInputs> = { [K in keyof I]?: I[K] | null | undefined };

/**
 * Turns a request into experiment inputs, e.g.
 * `(req) => ({ userid: req.user?.id ?? req.headers['x-user-id'] })`.
 * Called once per request (per experiment with its own resolver), and only when an
 * experiment is used. `request` is, per transport: the HTTP request (also in GraphQL
 * resolvers: the GraphQL context's `req`), the message payload (microservices), the
 * message data (WebSocket gateways); `context` tells which (`context.getType()`) and
 * gives the rest (RPC context and its headers, WebSocket client).
 */
export type PlanoutInputResolver<I extends object = ExperimentInputs> = {
  // Method syntax on purpose: a resolver may declare a narrower request type.
  bivarianceHack(request: PlanoutRequest, context: ExecutionContext): RequestInputs<I>;
}['bivarianceHack'];

/** A `SimpleNamespace` subclass, built per request with the inputs. */
export type NamespaceType<N extends SimpleNamespace = SimpleNamespace> = new (inputs: ExperimentInputs) => N;

/**
 * QA overrides: force params of chosen experiments for one request, e.g. to check a
 * variant by hand. Off unless this option is set; then only a token signed with
 * `secret` (see `signPlanoutOverrides`) or, for requests `allow` accepts, plain JSON
 * `{ "Exp1": { "group_size": 10 } }`. Records of overridden experiments carry
 * `overridden: true`; invalid values are ignored and counted (`overridesRejected`).
 */
export interface PlanoutOverridesOptions {
  /** HMAC-SHA256 key of signed tokens (at least 16 characters). Without it, tokens are refused. */
  secret?: string;
  /** Header carrying the token or JSON. Default `x-planout-overrides`. */
  header?: string;
  /** Query parameter also read (after the header), e.g. for QA links. Off unless set. */
  queryParam?: string;
  /** Whether this request may send unsigned JSON (e.g. from an internal network). Signed tokens never need it. */
  // Method syntax on purpose: a predicate may declare a narrower request type.
  allow?(request: PlanoutRequest, context: ExecutionContext): boolean;
  /** Refuse tokens without `exp`, or expiring more than this far in the future (60 s of clock skew tolerated). */
  maxAgeSeconds?: number;
}

export interface PlanoutModuleOptions {
  /** Experiments: `@Experiment()` classes, or core `Experiment` subclasses. */
  experiments?: ExperimentType[];
  /** Namespaces (`SimpleNamespace` subclasses); their experiments log through the module. */
  namespaces?: NamespaceType[];
  /** How a request becomes experiment inputs. Required when anything is registered. */
  inputs?: PlanoutInputResolver;
  /**
   * Unit input(s) of every experiment without its own `@Experiment({ units })`, e.g.
   * `['userid']`. A request whose unit is missing (`undefined`, `null` or `''`) is not in
   * the experiment: params read their defaults, no exposure or event is logged, and the
   * `missingUnit` counter grows. Undeclared, the units are inferred: the `unit` arguments
   * of the random operators `assign` draws with (a draw on a missing unit is never hashed).
   * A namespace's unit is its `primaryUnit`.
   */
  units?: readonly string[];
  /** Where records go. Default: a {@link JsonLinesFileSink} on `logFile`. */
  logSink?: LogSink;
  /** File of the default sink. Default `./planout-exposures.jsonl`. */
  logFile?: string;
  /**
   * The counters of this module. Pass the same instance to the `metrics` option of the
   * sink and cache you build yourself, so that `logged`, `dropped`, `retried` and
   * `cacheErrors` land next to the module's own counters. Default: a new instance
   * (also handed to the default JSON-lines sink). Injectable as `PlanoutMetrics`.
   */
  metrics?: PlanoutMetrics;
  /** Remembers logged exposures across requests. Default: an in-memory LRU with a 24 h TTL. */
  exposureCache?: ExposureCache;
  /** How long an exposure stays deduplicated, in ms. Default: the cache's own (24 h for the defaults). */
  exposureTtlMs?: number;
  /** Log an exposure when a param is read. Default true; `@ManualExposure()` turns it off per route. */
  autoExposureLogging?: boolean;
  /**
   * At bootstrap, run each `@Experiment` class's `assign` once with placeholder inputs to
   * catch invalid operator arguments (e.g. `p: 1.5`). Default true; turn off if `assign`
   * has side effects.
   */
  validateAssignments?: boolean;
  /**
   * Keep the request's context in AsyncLocalStorage while the handler runs, so that
   * `PlanoutService` finds the current request's experiments in services deep in the call
   * tree (even after `await`). The param decorators never need it. Default `'auto'`: on when
   * some provider, controller, enhancer or middleware of the app injects `PlanoutService`
   * (read from the DI metadata at bootstrap), off otherwise, which spares every promise of
   * the process Node's async-hooks cost. Set `true` when `PlanoutService` is only reached
   * through `moduleRef.get` or lazily loaded modules; `false` to opt out.
   * `PlanoutService.run()` always uses AsyncLocalStorage.
   */
  asyncContext?: 'auto' | boolean;
  /** QA overrides through a signed header or token, or an allow predicate. Default: off, headers ignored. */
  overrides?: PlanoutOverridesOptions;
  /**
   * Data-defined experiments and namespaces (a folder, a PostgreSQL table, a Redis hash),
   * used by name and hot-reloaded. Default: none. Also injectable as `DefinitionSource`.
   */
  definitions?: DefinitionSource;
  /** How reloads of `definitions` run. */
  definitionsReload?: {
    /** Changes reported within this many ms are reloaded together. Default 100. */
    debounceMs?: number;
    /** Synthetic units each changed experiment is assigned before it may serve. Default 5. */
    dryRunUnits?: number;
  };
  /**
   * Limits on one assignment of an interpreted (script) experiment: `maxOperations`
   * (operators run, random draws, elements walked; default 10 000) and `maxElements`
   * (list elements, characters and map entries created; default 100 000). Over them,
   * the param read throws a `PlanoutBudgetError` at once. An experiment's own `budget`
   * (`InterpretedExperiment.define({ budget })`) takes precedence. Data-defined
   * experiments run under it too, from their reload dry run on.
   */
  evaluationBudget?: EvaluationBudget;
  /** The live sample-ratio-mismatch alarm (see {@link PlanoutSrmOptions}); `false` turns it off. Default: on. */
  srm?: PlanoutSrmOptions | false;
}

/**
 * Sample-ratio-mismatch alarm: exposures accepted by the sink are counted per experiment
 * param and value, and tested against the shares the experiment's weights define (chi-square).
 */
export interface PlanoutSrmOptions {
  /** Exposures of a param before it can alarm. Default 100. */
  minExposures?: number;
  /** Alarm below this p-value. Default 0.001. */
  pValueThreshold?: number;
  /** Synthetic units run at bootstrap to learn each param's values and shares. Default 4 000. */
  syntheticUnits?: number;
  /** Params with more distinct values are not checked. Default 32. */
  maxValues?: number;
  /**
   * Time bootstrap may spend learning expectations, in total. Default 1 000 ms: what is left
   * by then is learnt in the background, in short slices between requests, so an app with
   * many experiments starts as fast as one without the alarm. It decides when, never what:
   * each experiment is learnt from all its synthetic units, and exposures that arrive before
   * it is learnt are counted once it is.
   */
  bootstrapMs?: number;
  /**
   * Safety net for a pathological experiment: running time its synthetic units may take,
   * summed over the slices. Default 10 000 ms (a normal experiment needs milliseconds); one
   * that takes longer is not tested (a warning says so), never tested on a partial sample.
   */
  maxMsPerSource?: number;
}
