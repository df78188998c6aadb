import { AsyncLocalStorage } from 'node:async_hooks';
import { IncomingMessage } from 'node:http';
import type { ExecutionContext } from '@nestjs/common';
import type { Experiment as CoreExperiment, ExperimentInputs } from '../core/experiment.js';
import type { SimpleNamespace } from '../core/namespace.js';
import type { PlanoutInputResolver, PlanoutRequest } from './planout-options.interface.js';
import type { PlanoutRegistry } from './planout.registry.js';
import type { PlanoutOverrides } from './qa-overrides.js';

/**
 * What one request's context keeps for its whole life: the instances built, the inputs
 * resolved, the overrides read. It holds nothing of the request itself. Where the context
 * lives in a WeakMap entry (Express requests), V8's young-generation GC keeps every entry's
 * value alive, and so everything the value reaches, through one more collection even after
 * the request ended: a value that reached the request would copy tens of KB of Express's
 * request and response objects per request (measured: 7 µs a request of GC time).
 */
export class RequestState {
  // Keyed by class, or by name for data-defined ones.
  experiments: Map<Function | string, CoreExperiment> | undefined;
  namespaces: Map<Function | string, SimpleNamespace> | undefined;
  moduleInputs: ExperimentInputs | undefined;
  // Read once, on the first experiment built; null when the request carries none.
  overrides: PlanoutOverrides | null | undefined;

  constructor(
    readonly registry: PlanoutRegistry,
    public autoExposure: boolean,
    readonly explicitInputs?: ExperimentInputs,
  ) {}
}

/**
 * The experiments of one request (or one explicit `run`), built lazily: only the
 * experiments that the handler or its services touch are assigned. A request's calls
 * (its interceptor, each param decorator, each GraphQL field) may each see their own
 * context object; they share one {@link RequestState}.
 */
export class PlanoutRequestContext {
  /** A new request's (or run's) context. */
  static start(
    registry: PlanoutRegistry,
    input: unknown,
    execution: ExecutionContext | undefined,
    autoExposure: boolean,
    explicitInputs?: ExperimentInputs,
  ): PlanoutRequestContext {
    return new PlanoutRequestContext(new RequestState(registry, autoExposure, explicitInputs), input, execution);
  }

  /**
   * @param input What the inputs resolver receives: the HTTP request (also for GraphQL:
   *   the GraphQL context's `req`), the message payload (RPC) or the message data (WebSocket).
   * @param execution The call that reads through this context; resolvers receive it.
   */
  constructor(
    readonly state: RequestState,
    readonly input: unknown,
    readonly execution: ExecutionContext | undefined,
  ) {}

  /** This request's instance of `type` (a class or a data-defined experiment's name), assigned on first use. */
  experiment(type: Function | string): CoreExperiment {
    const state = this.state;
    let instance = state.experiments?.get(type);
    if (instance === undefined) {
      const factory = state.registry.experimentFactory(type, state);
      instance = factory.create(this.inputsFor(factory.inputs, factory.sharedInputs), this.requestOverrides(), state.autoExposure);
      (state.experiments ??= new Map()).set(type, instance);
    }
    return instance;
  }

  /** This request's instance of namespace `type` (a class or a data-defined namespace's name), routed on first use. */
  namespace(type: Function | string): SimpleNamespace {
    const state = this.state;
    let instance = state.namespaces?.get(type);
    if (instance === undefined) {
      const factory = state.registry.namespaceFactory(type, state);
      instance = factory.create(this.inputsFor(factory.inputs, factory.sharedInputs), this.requestOverrides(), state.autoExposure);
      (state.namespaces ??= new Map()).set(type, instance);
    }
    return instance;
  }

  /** Turns auto-exposure off for the rest of this request, including instances already built. */
  disableAutoExposure(): void {
    this.state.autoExposure = false;
    this.state.experiments?.forEach((e) => e.setAutoExposureLogging(false));
    this.state.namespaces?.forEach((n) => n.setAutoExposureLogging(false));
  }

  /** Inputs for an experiment resolved by `resolver` (the module's is called once per request). */
  inputsFor(resolver: PlanoutInputResolver, isModuleResolver: boolean): ExperimentInputs {
    const state = this.state;
    if (state.explicitInputs !== undefined) return state.explicitInputs;
    if (isModuleResolver) return (state.moduleInputs ??= this.resolve(resolver));
    return this.resolve(resolver);
  }

  /**
   * This request's QA overrides, if any, read on the first experiment built: from HTTP
   * requests (GraphQL included), never from message payloads or outside a request.
   */
  private requestOverrides(): PlanoutOverrides | undefined {
    const state = this.state;
    if (state.overrides === undefined) {
      const type = this.execution?.getType<string>();
      const fromHttp = (type === 'http' || type === 'graphql') && isObject(this.input);
      state.overrides = fromHttp ? (state.registry.readOverrides(this.input as object, this.execution) ?? null) : null;
    }
    return state.overrides ?? undefined;
  }

  private resolve(resolver: PlanoutInputResolver): ExperimentInputs {
    return resolver((this.input ?? {}) as PlanoutRequest, this.execution as ExecutionContext);
  }
}

/** Builds the context of a call that no interceptor ran for, on its first read (see {@link registerContextSource}). */
export interface PlanoutContextSource {
  createContext(input: unknown, execution: ExecutionContext): PlanoutRequestContext;
}

// Kept on the raw Node request (the object Express hands out, `req.raw` on Fastify) under a
// symbol: cheaper than a WeakMap entry per request, and gone with the request. Except where
// a property costs more than the map: Express gives every request a new prototype
// (`app.request`), and a property added to such an object was measured at ~10 µs a request
// against ~1 µs for the map. Objects that cannot take a property (frozen RPC payloads) use the map too.
// Either way what is kept is the context's RequestState, which reaches nothing of the request;
// each call reads through a context made of that state and its own input.
const CONTEXT = Symbol('nestjs-planout.context');
const contextsByKey = new WeakMap<object, RequestState>();
const storage = new AsyncLocalStorage<PlanoutRequestContext>();

/** The key of `request` in the per-request map (`req.raw ?? req`). */
export function rawRequest(request: object): object {
  // A Node request is its own key; asking it for `raw` walks Express's long prototype chain.
  if (request instanceof IncomingMessage) return request;
  const raw = (request as { raw?: unknown }).raw;
  return typeof raw === 'object' && raw !== null ? raw : request;
}


/** A Node request whose prototype was replaced (Express): its context goes in the map. */
function keptInMap(key: object): boolean {
  return Object.getPrototypeOf(key) !== IncomingMessage.prototype && key instanceof IncomingMessage;
}

/** Attaches a context's `state` to `key`, a call's key ({@link callTarget}). */
export function attachState(key: object, state: RequestState): void {
  if (keptInMap(key) || !Object.isExtensible(key)) contextsByKey.set(key, state);
  else (key as { [CONTEXT]?: RequestState })[CONTEXT] = state;
}

/** The context state attached to `key`, if any. */
export function attachedTo(key: object): RequestState | undefined {
  if (keptInMap(key)) return contextsByKey.get(key);
  // Own property only: a request object derived from another must not inherit its context.
  return Object.hasOwn(key, CONTEXT) ? (key as { [CONTEXT]?: RequestState })[CONTEXT] : contextsByKey.get(key);
}

/** Where one call's state lives and what its inputs resolver receives. */
export interface CallTarget {
  /** The object the call's context is attached to; undefined when the call has none (then AsyncLocalStorage). */
  readonly key: object | undefined;
  /** The inputs resolver's first argument. */
  readonly input: unknown;
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/**
 * The call behind `execution`, per transport (read from `getType()` and the arguments, so
 * that no transport package is imported):
 * - `http`: the request; the context lives on it (`req.raw` on Fastify).
 * - `graphql`: arguments are (root, args, context, info); the resolver gets the GraphQL
 *   context's `req`, and the context lives on that request, so a query's resolver and
 *   every field resolver of the same request share it.
 * - `rpc`: arguments are (payload, RPC context); the resolver gets the payload, the context
 *   lives on the per-message RPC context object.
 * - `ws`: arguments are (client, data); the resolver gets the data (the client through
 *   `ctx.switchToWs().getClient()`), the context lives on the data when it is an object.
 */
export function callTarget(execution: ExecutionContext): CallTarget {
  switch (execution.getType<string>()) {
    case 'graphql': {
      const gql: unknown = execution.getArgByIndex(2);
      if (!isObject(gql)) return { key: undefined, input: undefined };
      const req = (gql as { req?: unknown }).req ?? (gql as { request?: unknown }).request;
      return isObject(req) ? { key: rawRequest(req), input: req } : { key: gql, input: gql };
    }
    case 'rpc': {
      const data: unknown = execution.getArgByIndex(0);
      const rpc: unknown = execution.getArgByIndex(1);
      return { key: isObject(rpc) ? rpc : isObject(data) ? data : undefined, input: data };
    }
    case 'ws': {
      const data: unknown = execution.getArgByIndex(1);
      return { key: isObject(data) ? data : undefined, input: data };
    }
    default: {
      const request: unknown = execution.getArgByIndex(0);
      return { key: isObject(request) ? rawRequest(request) : undefined, input: request };
    }
  }
}


// Handler classes (controllers, resolvers, gateways) → the interceptor of their app: used when
// no interceptor ran for a call (microservice handlers of a hybrid app without inheritAppConfig).
const sourcesByClass = new WeakMap<Function, PlanoutContextSource>();

/** Lets calls of `classes` build their context lazily, without the interceptor having run. */
export function registerContextSource(classes: Iterable<Function>, source: PlanoutContextSource): void {
  for (const type of classes) sourcesByClass.set(type, source);
}

/**
 * The context of the call behind `execution`: the state attached to its key seen with this
 * call's input, else the current async call tree's, else one built now from the handler's
 * app when no interceptor ran for it.
 */
export function contextOf(execution: ExecutionContext): PlanoutRequestContext | undefined {
  const { key, input } = callTarget(execution);
  if (key !== undefined) {
    const found = attachedTo(key);
    if (found !== undefined) return new PlanoutRequestContext(found, input, execution);
  }
  const current = storage.getStore();
  if (current !== undefined) return current;
  const source = sourcesByClass.get(execution.getClass());
  if (source === undefined) return undefined;
  const created = source.createContext(input, execution);
  if (key !== undefined) attachState(key, created.state);
  return created;
}

export function currentContext(): PlanoutRequestContext | undefined {
  return storage.getStore();
}

export function runInContext<T>(context: PlanoutRequestContext, fn: () => T): T {
  return storage.run(context, fn);
}
