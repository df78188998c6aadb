import { Inject, Injectable, Logger, type ExecutionContext, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Assignment } from '../core/assignment.js';
import { resolveEvaluationBudget, type EvaluationBudget } from '../core/budget.js';
import { PlanoutArgumentError, PlanoutError } from '../core/errors.js';
import {
  Experiment as CoreExperiment,
  normalizeExperimentName,
  shortChecksum,
  type ExperimentInputs,
} from '../core/experiment.js';
import { InterpretedExperiment } from '../core/interpreted-experiment.js';
import type { PlanoutLogRecord } from '../core/log-record.js';
import { SimpleNamespace } from '../core/namespace.js';
import { getExperimentOptions, type ExperimentDefinition } from './experiment.decorator.js';
import { ExposureDispatcher } from './exposure-dispatcher.js';
import type { PlanoutInputResolver, PlanoutModuleOptions, PlanoutRequest } from './planout-options.interface.js';
import { PlanoutMetrics } from './planout-metrics.js';
import { MODULE_OPTIONS_TOKEN } from './planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from './planout.constants.js';
import type { PlanoutOverrides } from './qa-overrides.js';
import type { PlanoutRequestContext } from './request-context.js';
import { assignUnlessUnitMissing, firstMissingUnit, UNIT_MISSING } from './missing-unit.js';
import { overriddenOr, RequestExperiment, type DefinitionBinding } from './request-experiment.js';
import { RequestOverridesReader } from './request-overrides.js';
import type { AssignmentProbe, ProbeSource } from './observability/srm-expectations.js';

interface ExperimentBinding {
  readonly type: Function;
  readonly name: string;
  readonly salt: string;
  readonly resolver: PlanoutInputResolver | undefined;
  readonly create: (inputs: ExperimentInputs) => CoreExperiment;
  /** Runs the assignment without logging (monitoring: expected shares of the SRM alarm). */
  readonly probe: (inputs: ExperimentInputs) => AssignmentProbe | undefined;
}

interface NamespaceBinding {
  readonly type: Function;
  readonly name: string;
  readonly primaryUnits: readonly string[];
  readonly create: (inputs: ExperimentInputs) => SimpleNamespace;
  readonly probe: (inputs: ExperimentInputs) => AssignmentProbe | undefined;
  /** An instance for a unit whose primary unit is missing: routed nowhere, default params, logs nothing. */
  readonly createUnrouted: (inputs: ExperimentInputs) => SimpleNamespace;
}

type ExperimentCtor = new (inputs: ExperimentInputs) => CoreExperiment;
interface ConcreteExperiment extends CoreExperiment {
  assign(params: Assignment<Record<string, unknown>>, inputs: ExperimentInputs): unknown;
}
type NamespaceCtor = new (inputs: ExperimentInputs) => SimpleNamespace;

// Stands in for every input in the bootstrap dry run of `assign`.
const PROBE_INPUTS: ExperimentInputs = new Proxy(
  {},
  { get: (_target, key) => (typeof key === 'string' ? `planout-validation-${key}` : undefined) },
);

/**
 * The registered experiments and namespaces: resolved and validated at bootstrap (the
 * app does not start on an error), then used to build per-request instances.
 */
@Injectable()
export class PlanoutRegistry implements OnModuleInit {
  private readonly logger = new Logger(PLANOUT_LOG_CONTEXT);
  private readonly experiments = new Map<Function, ExperimentBinding>();
  private readonly namespaces = new Map<Function, NamespaceBinding>();
  private readonly log: (record: PlanoutLogRecord) => void;
  private readonly logOverridden: (record: PlanoutLogRecord) => void;
  private readonly countMissingUnit: (experiment: string) => void;
  private overridesReader: RequestOverridesReader | undefined;
  /** The module-wide budget of interpreted experiments (under each experiment's own). */
  private readonly evaluationBudget: EvaluationBudget | undefined;
  readonly autoExposureLogging: boolean;
  /** The `asyncContext` option as given. */
  readonly asyncContextMode: 'auto' | boolean;
  /**
   * Whether the interceptor runs requests in AsyncLocalStorage: the option, or under
   * `'auto'` what the interceptor detected at bootstrap.
   */
  asyncContext: boolean;

  constructor(
    private readonly moduleRef: ModuleRef,
    dispatcher: ExposureDispatcher,
    private readonly metrics: PlanoutMetrics,
    @Inject(MODULE_OPTIONS_TOKEN) private readonly options: PlanoutModuleOptions,
  ) {
    this.autoExposureLogging = options.autoExposureLogging ?? true;
    this.evaluationBudget = options.evaluationBudget;
    this.asyncContextMode = options.asyncContext ?? 'auto';
    this.asyncContext = this.asyncContextMode !== false;
    this.log = (record) => dispatcher.enqueue(record);
    this.logOverridden = (record) => dispatcher.enqueue({ ...record, overridden: true });
    this.countMissingUnit = (experiment) => metrics.increment('missingUnit', 1, { experiment });
  }

  async onModuleInit(): Promise<void> {
    // A bad budget stops the app here rather than failing every request.
    if (this.evaluationBudget !== undefined) resolveEvaluationBudget(this.evaluationBudget);
    if (this.options.overrides !== undefined) this.overridesReader = new RequestOverridesReader(this.options.overrides, this.metrics);
    const names = new Map<string, string>();
    const salts = new Map<string, string>();
    const claim = (label: string, name: string, salt: string | undefined): void => {
      const byName = names.get(name);
      if (byName !== undefined) throw new PlanoutError(`name "${name}" is already used by ${byName}`, { experiment: label });
      names.set(name, label);
      if (salt === undefined) return;
      const bySalt = salts.get(salt);
      if (bySalt !== undefined) {
        throw new PlanoutError(`salt "${salt}" is already used by ${bySalt}: their assignments would be correlated`, { experiment: label });
      }
      salts.set(salt, label);
    };
    for (const type of this.options.experiments ?? []) {
      if (this.experiments.has(type)) throw new PlanoutError('registered twice', { experiment: type.name });
      const binding = await this.bindExperiment(type);
      claim(binding.name, binding.name, binding.salt);
      this.experiments.set(type, binding);
    }
    for (const type of this.options.namespaces ?? []) {
      const binding = this.bindNamespace(type);
      claim(binding.name, binding.name, undefined);
      this.namespaces.set(type, binding);
    }
  }

  /**
   * `PlanoutService` found no context while `asyncContext` was resolved off under `'auto'`
   * (it is reached without injection, e.g. `moduleRef.get`): turn it on for later requests.
   * Returns whether it did.
   */
  enableAsyncContextLate(): boolean {
    if (this.asyncContext || this.asyncContextMode !== 'auto') return false;
    this.asyncContext = true;
    this.logger.warn(
      "PlanoutService was used without a request context while asyncContext ('auto') was off, as nothing injects it: " +
        'on from the next request. Set PlanoutModule asyncContext: true to have it from the start.',
    );
    return true;
  }

  /** The registered experiments and namespaces, to run off the log (monitoring). */
  probeSources(): ProbeSource[] {
    return [
      ...[...this.experiments.values()].map((b): ProbeSource => ({ kind: 'experiment', name: b.name, probe: b.probe })),
      ...[...this.namespaces.values()].map((b): ProbeSource => ({ kind: 'namespace', name: b.name, probe: b.probe })),
    ];
  }

  /** Whether `type` is a registered experiment. */
  hasExperiment(type: Function): boolean {
    return this.experiments.has(type);
  }

  /** The QA overrides `request` carries and may apply; undefined when off or absent. */
  readOverrides(request: object, execution: ExecutionContext | undefined): PlanoutOverrides | undefined {
    return this.overridesReader?.read(request as PlanoutRequest, execution);
  }

  /** A new instance of `type` for `context` (assigned lazily, on first read). */
  createExperiment(type: Function, context: PlanoutRequestContext): CoreExperiment {
    const binding = this.experiments.get(type);
    if (binding === undefined) {
      throw new PlanoutError("is not registered: add it to PlanoutModule's `experiments`", { experiment: type.name });
    }
    const resolver = binding.resolver ?? this.options.inputs!;
    const instance = binding.create(context.inputsFor(resolver, binding.resolver === undefined));
    // Before the first read: the core fixes these params and replaces inputs of the same name.
    const overrides = context.overridesFor(binding.name);
    if (overrides !== undefined) instance.setOverrides(overrides);
    if (!context.autoExposureLogging) instance.setAutoExposureLogging(false);
    return instance;
  }

  /** A new instance of namespace `type` for `context`, routed, its experiment logging through the module. */
  createNamespace(type: Function, context: PlanoutRequestContext): SimpleNamespace {
    const binding = this.namespaces.get(type);
    if (binding === undefined) {
      throw new PlanoutError("is not registered: add it to PlanoutModule's `namespaces`", { experiment: type.name });
    }
    const inputs = context.inputsFor(this.options.inputs!, true);
    if (firstMissingUnit(inputs, binding.primaryUnits) !== undefined) {
      this.countMissingUnit(binding.name);
      return binding.createUnrouted(inputs);
    }
    const namespace = binding.create(inputs);
    // Routing builds the unit's experiment without reading it; hook its log before any read.
    const experiment = namespace.currentExperiment;
    if (experiment instanceof InterpretedExperiment) experiment.setBudgetDefaults(this.evaluationBudget);
    if (experiment !== undefined) {
      // Keyed by the experiment's full name in the namespace, e.g. "TestNs-a".
      const overrides = context.overridesFor(experiment.name);
      if (overrides !== undefined) experiment.setOverrides(overrides);
      const log = overrides === undefined ? this.log : this.logOverridden;
      Object.defineProperty(experiment, 'log', { value: log, configurable: true });
    }
    if (!context.autoExposureLogging) namespace.setAutoExposureLogging(false);
    return namespace;
  }

  private async bindExperiment(type: Function): Promise<ExperimentBinding> {
    if (typeof type !== 'function') throw new PlanoutError(`experiments must be classes, got ${String(type)}`);
    if (type.prototype instanceof CoreExperiment) return this.bindCoreExperiment(type as ExperimentCtor);
    const options = getExperimentOptions(type);
    if (options === undefined) {
      throw new PlanoutError('is neither decorated with @Experiment() nor a subclass of Experiment', { experiment: type.name });
    }
    const name = normalizeExperimentName(options.name ?? type.name);
    if (options.name === undefined && type.name.length <= 2) {
      this.logger.warn(`Experiment "${name}": the name comes from the class name, which looks minified; set @Experiment({ name })`);
    }
    const salt = options.salt ?? name;
    this.requireInputs(name, options.inputs);
    const units = this.unitsOption(name, options.units);
    const definition = await this.resolveDefinition(type, name);
    if (typeof definition.assign !== 'function') throw new PlanoutError('has no assign(params, inputs) method', { experiment: name });
    if (this.options.validateAssignments !== false) this.dryRun(definition, name, salt);
    const source = definition.assign.toString();
    const bound: DefinitionBinding = {
      definition,
      name,
      salt,
      // As the reference: the assign source without its first line (the signature).
      checksum: shortChecksum(source.slice(source.indexOf('\n') + 1)),
      paramNames: definition.getParamNames?.(),
      log: this.log,
      units,
      onMissingUnit: () => this.countMissingUnit(name),
    };
    return {
      type,
      name,
      salt,
      resolver: options.inputs,
      create: (inputs) => new RequestExperiment(bound, inputs),
      // `validateAssignments: false` says assign has side effects: then it is not run on synthetic units either.
      probe:
        this.options.validateAssignments === false
          ? () => undefined
          : (inputs) => ({ experiment: name, salt, assign: (params) => definition.assign(params as never, inputs) }),
    };
  }

  private bindCoreExperiment(type: ExperimentCtor): ExperimentBinding {
    const { log, logOverridden, countMissingUnit } = this;
    const units = this.unitsOption(type.name, undefined);
    // A subclass that sends records to the dispatcher; it keeps the class name, the default experiment name.
    // (Typed concrete: `type` is a registered subclass, so it implements assign.)
    const Base = type as unknown as new (inputs: ExperimentInputs) => ConcreteExperiment;
    const Routed = class extends Base {
      private overridden = false;
      private unitMissing = false;

      override assign(params: Assignment<Record<string, unknown>>, inputs: ExperimentInputs): unknown {
        const result = assignUnlessUnitMissing(params, inputs, units, () => super.assign(params, inputs));
        if (result !== UNIT_MISSING) return result;
        this.unitMissing = true;
        countMissingUnit(this.name);
        return false;
      }

      override get(name: string, defaultValue?: unknown): unknown {
        if (this.inExperiment || !this.unitMissing) return super.get(name, defaultValue);
        return overriddenOr(this.getOverrides(), name, defaultValue);
      }

      override getParams(): Record<string, unknown> {
        if (this.inExperiment || !this.unitMissing) return super.getParams();
        return this.getOverrides();
      }

      override setOverrides(overrides: Record<string, unknown>): void {
        super.setOverrides(overrides);
        this.overridden = Object.keys(overrides).length > 0;
      }

      protected override log(record: PlanoutLogRecord): void {
        // Forced params are not a random assignment: let analysis drop them.
        (this.overridden ? logOverridden : log)(record);
      }
    };
    Object.defineProperty(Routed, 'name', { value: type.name });
    let name: string;
    let salt: string;
    try {
      const probe = new Routed({});
      name = probe.name;
      salt = probe.salt;
    } catch (error) {
      throw new PlanoutError(`cannot be constructed: ${(error as Error).message}`, { experiment: type.name });
    }
    this.requireInputs(name, undefined);
    const budget = this.evaluationBudget;
    const create =
      budget !== undefined && type.prototype instanceof InterpretedExperiment
        ? (inputs: ExperimentInputs) => (new Routed(inputs) as unknown as InterpretedExperiment).setBudgetDefaults(budget)
        : (inputs: ExperimentInputs) => new Routed(inputs);
    return { type, name, salt, resolver: undefined, create, probe: (inputs) => coreProbe(create(inputs)) };
  }

  private bindNamespace(type: NamespaceCtor): NamespaceBinding {
    if (typeof type !== 'function' || !(type.prototype instanceof SimpleNamespace)) {
      throw new PlanoutError('namespaces must be SimpleNamespace subclasses', { experiment: (type as Function)?.name });
    }
    let name: string;
    let primaryUnits: readonly string[];
    try {
      // Runs setup() and setupExperiments(): a bad layout fails here, not in a request.
      const probe = new type({});
      name = probe.namespaceName;
      const primary = (probe as unknown as { primaryUnit: string | string[] }).primaryUnit;
      primaryUnits = Array.isArray(primary) ? [...primary] : [primary];
    } catch (error) {
      if (error instanceof PlanoutError) throw error;
      throw new PlanoutError(`namespace cannot be set up: ${(error as Error).message}`, { experiment: type.name });
    }
    this.requireInputs(name, undefined);
    const probe = (inputs: ExperimentInputs): AssignmentProbe | undefined => {
      const experiment = new type(inputs).currentExperiment;
      return experiment === undefined ? undefined : { ...coreProbe(experiment), namespace: name };
    };
    return { type, name, primaryUnits, create: (inputs) => new type(inputs), createUnrouted: (inputs) => unrouted(new type(inputs)), probe };
  }

  private unitsOption(name: string, own: readonly string[] | undefined): readonly string[] | undefined {
    const units = own ?? this.options.units;
    if (units === undefined) return undefined;
    if (!Array.isArray(units) || units.length === 0 || !units.every((u) => typeof u === 'string' && u.length > 0)) {
      throw new PlanoutError('`units` must be a non-empty list of input names, e.g. ["userid"]', { experiment: name });
    }
    return [...units];
  }

  private requireInputs(name: string, own: PlanoutInputResolver | undefined): void {
    if (own === undefined && this.options.inputs === undefined) {
      throw new PlanoutError('no inputs resolver: set the `inputs` option of PlanoutModule (or @Experiment({ inputs }))', {
        experiment: name,
      });
    }
  }

  private async resolveDefinition(type: Function, name: string): Promise<ExperimentDefinition> {
    try {
      // Registered as a provider somewhere: injection from its own module.
      return this.moduleRef.get(type, { strict: false }) as ExperimentDefinition;
    } catch {
      // Otherwise built here: global providers and the module's `imports` can be injected.
    }
    try {
      return await this.moduleRef.create(type as unknown as Type<ExperimentDefinition>);
    } catch (error) {
      throw new PlanoutError(`cannot be instantiated: ${(error as Error).message}`, { experiment: name });
    }
  }

  /** Runs `assign` once with placeholder inputs; operator argument errors stop the app. */
  private dryRun(definition: ExperimentDefinition, name: string, salt: string): void {
    try {
      definition.assign(new Assignment(salt, {}, name), PROBE_INPUTS);
    } catch (error) {
      // Other errors may come from the placeholder inputs themselves: not conclusive.
      if (error instanceof PlanoutArgumentError) throw error;
    }
  }
}

/** A core experiment's assignment, run into a given `Assignment` (nothing logged). */
function coreProbe(experiment: CoreExperiment): AssignmentProbe {
  const { name, salt } = experiment;
  const probe: AssignmentProbe = { experiment: name, salt, assign: (params) => experiment.assign(params, experiment.inputs) };
  if (!(experiment instanceof InterpretedExperiment)) return probe;
  // Its script says the weights (loadScript is the class's own, protected: read, never run).
  return { ...probe, script: () => (experiment as unknown as { loadScript(): unknown }).loadScript() };
}

/**
 * `namespace` (its own class, so `instanceof` holds) routed nowhere: the unit's primary
 * unit is missing. Params read the namespace defaults; nothing is hashed or logged.
 */
function unrouted(namespace: SimpleNamespace): SimpleNamespace {
  const defaults = (namespace as unknown as { createDefaultExperiment(inputs: ExperimentInputs): CoreExperiment }).createDefaultExperiment(
    namespace.inputs,
  );
  const noop = (): void => {};
  Object.defineProperties(namespace, {
    currentExperiment: { get: () => undefined },
    inExperiment: { get: () => false },
    segment: { get: () => -1 },
    get: { value: (name: string, defaultValue?: unknown) => defaults.get(name, defaultValue) },
    logExposure: { value: noop },
    logEvent: { value: noop },
    setAutoExposureLogging: { value: noop },
  });
  return namespace;
}
