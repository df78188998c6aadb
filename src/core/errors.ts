/** Context that makes an error actionable: which experiment, which parameter. */
export interface PlanoutErrorContext {
  experiment?: string;
  param?: string;
}

/**
 * The one error family of the library. Messages name the experiment and the parameter
 * when they are known: `Experiment "Exp1", param "group_size": choices must be a list`.
 */
export class PlanoutError extends Error {
  readonly experiment?: string;
  readonly param?: string;

  constructor(message: string, context: PlanoutErrorContext = {}) {
    super(PlanoutError.describe(message, context));
    this.name = new.target.name;
    this.experiment = context.experiment;
    this.param = context.param;
  }

  private static describe(message: string, { experiment, param }: PlanoutErrorContext): string {
    const where = [
      experiment !== undefined ? `Experiment "${experiment}"` : undefined,
      param !== undefined ? `param "${param}"` : undefined,
    ].filter(Boolean);
    return where.length ? `${where.join(', ')}: ${message}` : message;
  }
}

/** Invalid arguments to an operator (the reference raises for these too). */
export class PlanoutArgumentError extends PlanoutError {}

/** A serialized script that cannot be run (unknown operator, malformed node). */
export class PlanoutScriptError extends PlanoutError {}

/**
 * A script exceeded its evaluation budget for one assignment (operations run or elements
 * created); see `EvaluationBudget`. Raised before the work is done, so it fails fast.
 */
export class PlanoutBudgetError extends PlanoutError {}
