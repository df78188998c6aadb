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

/** Where a {@link PlanoutSyntaxError} was found and what the compiler wanted there. */
export interface PlanoutSyntaxErrorDetails {
  /** 1-based line of the offending text. */
  line: number;
  /** 1-based column of the offending text. */
  column: number;
  /** What the grammar accepts at that point, e.g. `["';'", "'['", "operator"]`. */
  expected: readonly string[];
  /** What was found instead, e.g. `identifier "y"` or `end of input`. */
  found: string;
}

/**
 * A PlanOut-language program the reference compiler rejects. The message reads
 * `line 4, column 12: expected ')' but found ';'`.
 */
export class PlanoutSyntaxError extends PlanoutError {
  readonly line: number;
  readonly column: number;
  readonly expected: readonly string[];
  readonly found: string;
  /** The message without its location. */
  readonly problem: string;

  constructor(problem: string, details: PlanoutSyntaxErrorDetails, context: PlanoutErrorContext = {}) {
    super(`line ${details.line}, column ${details.column}: ${problem}`, context);
    this.problem = problem;
    this.line = details.line;
    this.column = details.column;
    this.expected = details.expected;
    this.found = details.found;
  }
}

/**
 * A script exceeded its evaluation budget for one assignment (operations run or elements
 * created); see `EvaluationBudget`. Raised before the work is done, so it fails fast.
 */
export class PlanoutBudgetError extends PlanoutError {}
