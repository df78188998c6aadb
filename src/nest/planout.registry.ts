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
import { PlanoutDefinitions } from './definitions/planout-definitions.js';
import { getExperimentOptions, type ExperimentDefinition } from './experiment.decorator.js';
import { ExposureDispatcher } from './exposure-dispatcher.js';
import type { PlanoutInputResolver, PlanoutModuleOptions, PlanoutRequest } from './planout-options.interface.js';
import { PlanoutMetrics } from './planout-metrics.js';
import { copyWith } from './record-copy.js';
import { MODULE_OPTIONS_TOKEN } from './planout.module-definition.js';
import { PLANOUT_LOG_CONTEXT } from './planout.constants.js';
import type { PlanoutOverrides } from './qa-overrides.js';
import { firstMissingUnit, withUnitPolicy } from './missing-unit.js';
import { RequestExperiment, type DefinitionBinding } from './request-experiment.js';
import { RequestOverridesReader } from './request-overrides.js';
import type { AssignmentProbe, ProbeSource } from './observability/srm-expectations.js';

interface ExperimentBinding {
  readonly type: Function;
  readonly name: string;
  readonly salt: string;
  readonly factory: ExperimentFactory;
  /** Runs the assignment without logging (monitoring: expected shares of the SRM alarm). */
  readonly probe: (inputs: ExperimentInputs) => AssignmentProbe | undefined;
}

/** Builds one experiment for a request from what the request resolved. */
export interface ExperimentFactory {
  /** The resolver of the experiment's inputs. */
  readonly inputs: PlanoutInputResolver;
  /** Whether that is the module's resolver (its result is shared by the request's experiments). */
  readonly sharedInputs: boolean;
  /** A new instance, assigned lazily on first read; `overrides` are the request's, for every experiment. */
  create(inputs: ExperimentInputs, overrides: PlanoutOverrides | undefined, autoExposure: boolean): CoreExperiment;
}

export interface NamespaceFactory {
  readonly inputs: PlanoutInputResolver;
  readonly sharedInputs: boolean;
  create(inputs: ExperimentInputs, overrides: PlanoutOverrides | undefined, autoExposure: boolean): SimpleNamespace;
}

/** The non-empty overrides of experiment `name`, if any. */
function overridesOf(overrides: PlanoutOverrides | undefined, name: string): Record<string, unknown> | undefined {
  if (overrides === undefined || !Object.hasOwn(overrides, name)) return undefined;
  const params = overrides[name]!;
  return Object.keys(params).length > 0 ? params : undefined;
}

interface NamespaceBinding {
  readonly type: Function;
  readonly name: string;
  readonly primaryUnits: readonly string[];
  readonly create: (inputs: ExperimentInputs) => SimpleNamespace;
  readonly probe: (inputs: ExperimentInputs) => AssignmentProbe | undefined;
}

type ExperimentCtor = new (inputs: ExperimentInputs) => CoreExperiment;
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
  // One factory per compiled data definition (a reload compiles new ones).
  private readonly dataFactories = new WeakMap<object, ExperimentFactory>();
  private readonly log: (record: PlanoutLogRecord) => void;
  private readonly logOverridden: (record: PlanoutLogRecord) => void;
  private readonly countMissingUnit: (experiment: string) => void;
  /** The module-wide `units` (checked at bootstrap): those of data-defined experiments. */
  private moduleUnits: readonly string[] | undefined;
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
    private readonly definitions: PlanoutDefinitions,
  ) {
    this.autoExposureLogging = options.autoExposureLogging ?? true;
    this.evaluationBudget = options.evaluationBudget;
    this.asyncContextMode = options.asyncContext ?? 'auto';
    this.asyncContext = this.asyncContextMode !== false;
    this.log = (record) => dispatcher.enqueue(record);
    this.logOverridden = (record) => dispatcher.enqueue(copyWith(record, 'overridden', true));
    this.countMissingUnit = (experiment) => metrics.increment('missingUnit', 1, { experiment });
  }

  async onModuleInit(): Promise<void> {
    // A bad budget stops the app here rather than failing every request.
    if (this.evaluationBudget !== undefined) resolveEvaluationBudget(this.evaluationBudget);
    this.moduleUnits = this.unitsOption('PlanoutModule', undefined);
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
    // Data definitions may not take the names and salts of the classes.
    if (this.options.definitions !== undefined && this.options.inputs === undefined) {
      throw new PlanoutError('no inputs resolver: data-defined experiments need the `inputs` option of PlanoutModule');
    }
    await this.definitions.start({ names: new Set(names.keys()), salts: new Set(salts.keys()) });
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

  /**
   * The registered experiments and namespaces, and the data-defined ones serving now, to
   * run off the log (monitoring). A data-defined source carries its compiled definition:
   * a reload that changed it gives a new one.
   */
  probeSources(): ProbeSource[] {
    const { experiments, namespaces } = this.definitions.snapshot;
    return [
      ...[...this.experiments.values()].map((b): ProbeSource => ({ kind: 'experiment', name: b.name, probe: b.probe })),
      ...[...this.namespaces.values()].map((b): ProbeSource => ({ kind: 'namespace', name: b.name, probe: b.probe })),
      // Compiled classes carry the module's budget already; a probe logs nothing, so needs no routing.
      ...[...experiments.values()].map(
        (c): ProbeSource => ({ kind: 'experiment', name: c.name, definition: c, probe: (inputs) => coreProbe(new c.type(inputs)) }),
      ),
      ...[...namespaces.values()].map(
        (c): ProbeSource => ({ kind: 'namespace', name: c.name, definition: c, probe: namespaceProbe(c.name, (inputs) => new c.type(inputs)) }),
      ),
    ];
  }

  /** The names of the namespaces: class-based, then data-defined ones serving now. */
  namespaceNames(): string[] {
    return [...[...this.namespaces.values()].map((b) => b.name), ...this.definitions.snapshot.namespaces.keys()];
  }

  /** Whether `type` is a registered experiment. */
  hasExperiment(type: Function): boolean {
    return this.experiments.has(type);
  }

  /** The QA overrides `request` carries and may apply; undefined when off or absent. */
  readOverrides(request: object, execution: ExecutionContext | undefined): PlanoutOverrides | undefined {
    return this.overridesReader?.read(request as PlanoutRequest, execution);
  }

  /**
   * How to build experiment `type` (a class, or the name of a data-defined experiment in
   * `owner`'s definitions snapshot). The caller resolves the inputs it names and passes
   * them in, with the request's overrides: the registry never calls back into the request.
   */
  experimentFactory(type: Function | string, owner: object): ExperimentFactory {
    if (typeof type === 'string') {
      const compiled = this.definitions.experiment(owner, type);
      let factory = this.dataFactories.get(compiled);
      if (factory === undefined) {
        // Units as for a class: module-wide `units`, else inferred from the script's draws.
        const Build = withUnitPolicy(compiled.type, this.moduleUnits, () => this.countMissingUnit(compiled.name));
        factory = this.factory(compiled.name, undefined, (inputs) => new Build(inputs));
        this.dataFactories.set(compiled, factory);
      }
      return factory;
    }
    const binding = this.experiments.get(type);
    if (binding === undefined) {
      throw new PlanoutError("is not registered: add it to PlanoutModule's `experiments`", { experiment: type.name });
    }
    return binding.factory;
  }

  /** How to build namespace `type` (a class, or a data-defined namespace's name in `owner`'s snapshot). */
  namespaceFactory(type: Function | string, owner: object): NamespaceFactory {
    let build: ((inputs: ExperimentInputs) => SimpleNamespace) | undefined;
    let primaryUnits: readonly string[] = [];
    let name = '';
    if (typeof type === 'string') {
      const compiled = this.definitions.namespace(owner, type);
      build = (inputs) => new compiled.type(inputs);
      primaryUnits = compiled.primaryUnits;
      name = compiled.name;
    } else {
      const binding = this.namespaces.get(type);
      build = binding?.create;
      if (binding !== undefined) ({ primaryUnits, name } = binding);
    }
    if (build === undefined) {
      throw new PlanoutError("is not registered: add it to PlanoutModule's `namespaces`", { experiment: (type as Function).name });
    }
    const create = build;
    return {
      inputs: this.options.inputs!,
      sharedInputs: true,
      create: (inputs, overrides, autoExposure) => {
        if (firstMissingUnit(inputs, primaryUnits) !== undefined) {
          // Routed nowhere: default params, nothing hashed or logged.
          this.countMissingUnit(name);
          return unrouted(create(inputs));
        }
        const namespace = create(inputs);
        // Routing builds the unit's experiment without reading it; route its records before any read.
        const experiment = namespace.currentExperiment;
        // Overrides are keyed by the experiment's full name in the namespace, e.g. "TestNs-a".
        if (experiment !== undefined) this.route(experiment, overridesOf(overrides, experiment.name), autoExposure);
        return namespace;
      },
    };
  }

  private factory(name: string, resolver: PlanoutInputResolver | undefined, build: (inputs: ExperimentInputs) => CoreExperiment): ExperimentFactory {
    return {
      inputs: resolver ?? this.options.inputs!,
      sharedInputs: resolver === undefined,
      create: (inputs, overrides, autoExposure) => {
        const instance = build(inputs);
        this.route(instance, overridesOf(overrides, name), autoExposure);
        return instance;
      },
    };
  }

  /**
   * Prepares a new instance before its first read: its QA overrides (the core fixes these
   * params and replaces inputs of the same name), where its records go, auto-exposure,
   * and the module-wide evaluation budget of interpreted ones (under their own).
   * The one place that decides `overridden`.
   */
  private route(experiment: CoreExperiment, overrides: Record<string, unknown> | undefined, autoExposure: boolean): void {
    this.withBudget(experiment);
    if (overrides !== undefined) experiment.setOverrides(overrides);
    // Forced params are not a random assignment: let analysis drop them.
    const log = overrides === undefined ? this.log : this.logOverridden;
    if (experiment instanceof RequestExperiment) experiment.sendRecordsTo(log);
    else Object.defineProperty(experiment, 'log', { value: log, configurable: true });
    if (!autoExposure) experiment.setAutoExposureLogging(false);
  }

  /** Interpreted experiments run under the module-wide evaluation budget (under their own). */
  private withBudget(experiment: CoreExperiment): CoreExperiment {
    if (experiment instanceof InterpretedExperiment && this.evaluationBudget !== undefined) experiment.setBudgetDefaults(this.evaluationBudget);
    return experiment;
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
      units,
      onMissingUnit: () => this.countMissingUnit(name),
    };
    return {
      type,
      name,
      salt,
      factory: this.factory(name, options.inputs, (inputs) => new RequestExperiment(bound, inputs)),
      // `validateAssignments: false` says assign has side effects: then it is not run on synthetic units either.
      probe:
        this.options.validateAssignments === false
          ? () => undefined
          : (inputs) => ({ experiment: name, salt, assign: (params) => definition.assign(params as never, inputs) }),
    };
  }

  private bindCoreExperiment(type: ExperimentCtor): ExperimentBinding {
    let name: string;
    let salt: string;
    try {
      const probe = new type({});
      name = probe.name;
      salt = probe.salt;
    } catch (error) {
      throw new PlanoutError(`cannot be constructed: ${(error as Error).message}`, { experiment: type.name });
    }
    this.requireInputs(name, undefined);
    // The same class under the missing-unit policy (it keeps the class name, the default experiment name).
    const Checked = withUnitPolicy(type, this.unitsOption(name, undefined), () => this.countMissingUnit(name));
    return {
      type,
      name,
      salt,
      factory: this.factory(name, undefined, (inputs) => new Checked(inputs)),
      probe: (inputs) => coreProbe(this.withBudget(new Checked(inputs))),
    };
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
    return { type, name, primaryUnits, create: (inputs) => new type(inputs), probe: namespaceProbe(name, (inputs) => new type(inputs)) };
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

/** A namespace's probe: the experiment it routes the unit to, if any. */
function namespaceProbe(name: string, build: (inputs: ExperimentInputs) => SimpleNamespace): ProbeSource['probe'] {
  return (inputs) => {
    const experiment = build(inputs).currentExperiment;
    return experiment === undefined ? undefined : { ...coreProbe(experiment), namespace: name };
  };
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
