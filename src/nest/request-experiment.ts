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

  /** Where records go (set by the registry before the first read). */
  sendRecordsTo(send: (record: PlanoutLogRecord) => void): void {
    this.sendRecord = send;
  }

  protected override log(record: PlanoutLogRecord): void {
    this.sendRecord(record);
  }
}
