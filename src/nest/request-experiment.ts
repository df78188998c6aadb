import { Experiment as CoreExperiment, type ExperimentInputs, type ExperimentParams } from '../core/experiment.js';
import type { Assignment } from '../core/assignment.js';
import type { PlanoutLogRecord } from '../core/log-record.js';
import type { ExperimentDefinition } from './experiment.decorator.js';
import { assignUnlessUnitMissing, overriddenOr, UNIT_MISSING } from './missing-unit.js';

/** What the module knows of one registered `@Experiment` class, computed at bootstrap. */
export interface DefinitionBinding {
  readonly definition: ExperimentDefinition;
  readonly name: string;
  readonly salt: string;
  readonly checksum: string;
  readonly paramNames: readonly string[] | undefined;
  /** Declared unit inputs; undeclared units are inferred from the `unit` arguments `assign` draws with. */
  readonly units: readonly string[] | undefined;
  /** Called once per instance whose unit is missing. */
  readonly onMissingUnit: () => void;
}

/**
 * The per-request PlanOut experiment of an `@Experiment` class: the core lifecycle, with
 * `assign` delegated to the singleton and records sent where the registry says.
 */
export class RequestExperiment<
  TParams extends ExperimentParams = ExperimentParams,
  TInputs extends ExperimentInputs = ExperimentInputs,
> extends CoreExperiment<TParams, TInputs> {
  private sendRecord: (record: PlanoutLogRecord) => void = () => undefined;
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

  /** Where records go (set by the registry before the first read). */
  sendRecordsTo(send: (record: PlanoutLogRecord) => void): void {
    this.sendRecord = send;
  }

  protected override log(record: PlanoutLogRecord): void {
    this.sendRecord(record);
  }
}
