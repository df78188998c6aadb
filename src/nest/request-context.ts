import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExecutionContext } from '@nestjs/common';
import type { Experiment as CoreExperiment, ExperimentInputs } from '../core/experiment.js';
import type { SimpleNamespace } from '../core/namespace.js';
import type { PlanoutInputResolver, PlanoutRequest } from './planout-options.interface.js';
import type { PlanoutRegistry } from './planout.registry.js';
import type { PlanoutOverrides } from './qa-overrides.js';

/**
 * The experiments of one request (or one explicit `run`), built lazily: only the
 * experiments that the handler or its services touch are assigned.
 */
export class PlanoutRequestContext {
  // Keyed by class, or by name for data-defined ones.
  private experiments: Map<Function | string, CoreExperiment> | undefined;
  private namespaces: Map<Function | string, SimpleNamespace> | undefined;
  private moduleInputs: ExperimentInputs | undefined;
  // Read once, on the first experiment built; null when the request carries none.
  private overrides: PlanoutOverrides | null | undefined;

  constructor(
    readonly registry: PlanoutRegistry,
    readonly request: object | undefined,
    readonly execution: ExecutionContext | undefined,
    private autoExposure: boolean,
    private readonly explicitInputs?: ExperimentInputs,
  ) {}

  get autoExposureLogging(): boolean {
    return this.autoExposure;
  }

  /** This request's instance of `type` (a class or a data-defined experiment's name), assigned on first use. */
  experiment(type: Function | string): CoreExperiment {
    let instance = this.experiments?.get(type);
    if (instance === undefined) {
      const factory = this.registry.experimentFactory(type, this);
      instance = factory.create(this.inputsFor(factory.inputs, factory.sharedInputs), this.requestOverrides(), this.autoExposure);
      (this.experiments ??= new Map()).set(type, instance);
    }
    return instance;
  }

  /** This request's instance of namespace `type` (a class or a data-defined namespace's name), routed on first use. */
  namespace(type: Function | string): SimpleNamespace {
    let instance = this.namespaces?.get(type);
    if (instance === undefined) {
      const factory = this.registry.namespaceFactory(type, this);
      instance = factory.create(this.inputsFor(factory.inputs, factory.sharedInputs), this.requestOverrides(), this.autoExposure);
      (this.namespaces ??= new Map()).set(type, instance);
    }
    return instance;
  }

  /** Turns auto-exposure off for the rest of this request, including instances already built. */
  disableAutoExposure(): void {
    this.autoExposure = false;
    this.experiments?.forEach((e) => e.setAutoExposureLogging(false));
    this.namespaces?.forEach((n) => n.setAutoExposureLogging(false));
  }

  /** Inputs for an experiment resolved by `resolver` (the module's is called once per request). */
  inputsFor(resolver: PlanoutInputResolver, isModuleResolver: boolean): ExperimentInputs {
    if (this.explicitInputs !== undefined) return this.explicitInputs;
    if (isModuleResolver) return (this.moduleInputs ??= this.resolve(resolver));
    return this.resolve(resolver);
  }

  /** This request's QA overrides, if any (never outside HTTP); read on the first experiment built. */
  private requestOverrides(): PlanoutOverrides | undefined {
    if (this.overrides === undefined) {
      this.overrides = this.request === undefined ? null : (this.registry.readOverrides(this.request, this.execution) ?? null);
    }
    return this.overrides ?? undefined;
  }

  private resolve(resolver: PlanoutInputResolver): ExperimentInputs {
    return resolver((this.request ?? {}) as PlanoutRequest, this.execution as ExecutionContext);
  }
}

/**
 * Builds a request's context on first use. The interceptor attaches itself to each request
 * in its place, so routes that read no experiment allocate nothing.
 */
export interface PlanoutContextSource {
  createContext(request: object, execution: ExecutionContext): PlanoutRequestContext;
}

type Attached = PlanoutRequestContext | PlanoutContextSource;

// Kept on the raw Node request (the object Express hands out, `req.raw` on Fastify) under a
// symbol: cheaper than a WeakMap entry per request, and gone with the request. Objects that
// cannot take a property (frozen RPC payloads) use the WeakMap.
const CONTEXT = Symbol('nestjs-planout.context');
const frozenContexts = new WeakMap<object, Attached>();
const storage = new AsyncLocalStorage<PlanoutRequestContext>();

/** The key of `request` in the per-request map (`req.raw ?? req`). */
export function rawRequest(request: object): object {
  const raw = (request as { raw?: unknown }).raw;
  return typeof raw === 'object' && raw !== null ? raw : request;
}

/** Attaches `context` to `request`, or the `source` that builds it on first use. */
export function attachContext(request: object, context: Attached): void {
  setAttached(rawRequest(request), context);
}

function setAttached(key: object, value: Attached): void {
  if (Object.isExtensible(key)) (key as { [CONTEXT]?: Attached })[CONTEXT] = value;
  else frozenContexts.set(key, value);
}

function getAttached(key: object): Attached | undefined {
  // Own property only: a request object derived from another must not inherit its context.
  return Object.hasOwn(key, CONTEXT) ? (key as { [CONTEXT]?: Attached })[CONTEXT] : frozenContexts.get(key);
}

/**
 * The context of `request` (built now if only its source was attached and `execution`
 * is given), else of the current async call tree.
 */
export function contextOf(request: unknown, execution?: ExecutionContext): PlanoutRequestContext | undefined {
  if (typeof request === 'object' && request !== null) {
    const key = rawRequest(request);
    const found = getAttached(key);
    if (found instanceof PlanoutRequestContext) return found;
    if (found !== undefined && execution !== undefined) {
      const created = found.createContext(request, execution);
      setAttached(key, created);
      return created;
    }
  }
  return storage.getStore();
}

export function currentContext(): PlanoutRequestContext | undefined {
  return storage.getStore();
}

export function runInContext<T>(context: PlanoutRequestContext, fn: () => T): T {
  return storage.run(context, fn);
}
