import { Experiment as CoreExperiment, type ExperimentInputs, type ExperimentParams } from '../core/experiment.js';
import type { Assignment } from '../core/assignment.js';
import type { PlanoutLogRecord } from '../core/log-record.js';
import type { ExperimentDefinition } from './experiment.decorator.js';
import { assignUnlessUnitMissing, UNIT_MISSING } from './missing-unit.js';

/** What the module knows of one registered `@Experiment` class, computed at bootstrap. */
export interface DefinitionBinding {
  readonly definition: ExperimentDefinition;
  readonly name: string;
  readonly salt: string;
  readonly checksum: string;
  readonly paramNames: readonly string[] | undefined;
  readonly log: (record: PlanoutLogRecord) => void;
  /** Declared unit inputs; undeclared units are inferred from the `unit` arguments `assign` draws with. */
  readonly units: readonly string[] | undefined;
  /** Called once per instance whose unit is missing. */
  readonly onMissingUnit: () => void;
}

/**
 * The per-request PlanOut experiment of an `@Experiment` class: the core lifecycle, with
 * `assign` delegated to the singleton and records sent to the dispatcher.
 */
export class RequestExperiment<
  TParams extends ExperimentParams = ExperimentParams,
  TInputs extends ExperimentInputs = ExperimentInputs,
> extends CoreExperiment<TParams, TInputs> {
  private hasOverrides = false;
  private unitMissing = false;

  constructor(
    private readonly binding: DefinitionBinding,
    inputs: TInputs,
  ) {
    super(inputs);
  }

  protected override setup(): void {
    this.name = this.binding.name;
    this.salt = this.binding.salt;
  }

  assign(params: Assignment<TParams>, inputs: TInputs): unknown {
    const { definition, units } = this.binding;
    const result = assignUnlessUnitMissing(params, inputs, units, () => definition.assign(params as Assignment<ExperimentParams>, inputs));
    if (result !== UNIT_MISSING) return result;
    this.unitMissing = true;
    this.binding.onMissingUnit();
    return false;
  }

  /** Whether this instance's unit is missing (it is then not in the experiment). */
  get missingUnit(): boolean {
    this.inExperiment;
    return this.unitMissing;
  }

  override get<K extends keyof TParams & string>(name: K): TParams[K] | undefined;
  override get<K extends keyof TParams & string, D>(name: K, defaultValue: D): TParams[K] | D;
  override get(name: string, defaultValue?: unknown): unknown;
  override get(name: string, defaultValue?: unknown): unknown {
    // A missing unit reads defaults (or QA-forced values), never a draw.
    if (this.inExperiment || !this.unitMissing) return super.get(name, defaultValue);
    return overriddenOr(this.getOverrides(), name, defaultValue);
  }

  override getParams(): TParams {
    if (this.inExperiment || !this.unitMissing) return super.getParams();
    return this.getOverrides() as TParams;
  }

  override getParamNames(): readonly string[] | undefined {
    return this.binding.paramNames;
  }

  protected override computeChecksum(): string {
    return this.binding.checksum;
  }

  override setOverrides(overrides: Record<string, unknown>): void {
    super.setOverrides(overrides);
    this.hasOverrides = Object.keys(overrides).length > 0;
  }

  protected override buildRecord(event: string, extras?: Record<string, unknown>): PlanoutLogRecord {
    const record = super.buildRecord(event, extras);
    // Forced params are not a random assignment: let analysis drop them.
    if (this.hasOverrides) record.overridden = true;
    return record;
  }

  protected override log(record: PlanoutLogRecord): void {
    this.binding.log(record);
  }
}

/** The forced value of `name`, else `defaultValue`. */
export function overriddenOr(overrides: Record<string, unknown>, name: string, defaultValue: unknown): unknown {
  return Object.hasOwn(overrides, name) ? overrides[name] : defaultValue;
}
