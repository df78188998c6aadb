import { Experiment as CoreExperiment, type ExperimentInputs, type ExperimentParams } from '../core/experiment.js';
import type { Assignment } from '../core/assignment.js';
import type { PlanoutLogRecord } from '../core/log-record.js';
import type { ExperimentDefinition } from './experiment.decorator.js';

/** What the module knows of one registered `@Experiment` class, computed at bootstrap. */
export interface DefinitionBinding {
  readonly definition: ExperimentDefinition;
  readonly name: string;
  readonly salt: string;
  readonly checksum: string;
  readonly paramNames: readonly string[] | undefined;
  readonly log: (record: PlanoutLogRecord) => void;
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
    return this.binding.definition.assign(params as Assignment<ExperimentParams>, inputs);
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
