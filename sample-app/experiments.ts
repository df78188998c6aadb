import {
  Assignment,
  BernoulliTrial,
  Experiment,
  SimpleNamespace,
  UniformChoice,
  WeightedChoice,
  type ExperimentInputs,
  type PlanoutRequest,
  type RequestInputs,
} from '../src/index.js';

// The seeds' experiments, as @Experiment providers. Names are set explicitly: class
// names do not survive minification.

export type Exp1Params = {
  group_size: number;
  specific_goal: number;
  ratings_per_user_goal: number;
  ratings_goal: number;
};
export type UserInputs = { userid: string };

@Experiment({ name: 'Exp1', salt: 'Exp1' })
export class Exp1 {
  assign(params: Assignment<Exp1Params>, inputs: UserInputs): void {
    const { userid } = inputs;
    params.set('group_size', new UniformChoice({ choices: [1, 10], unit: userid }));
    params.set('specific_goal', new BernoulliTrial({ p: 0.8, unit: userid }));
    if (params.get('specific_goal')) {
      params.set('ratings_per_user_goal', new UniformChoice({ choices: [8, 16, 32, 64], unit: userid }));
      params.set('ratings_goal', params.get('group_size')! * params.get('ratings_per_user_goal')!);
    }
  }
}

export type GermanyInputs = { userid: string; country: string };

/** Targeting: only units in Germany enter; the others get no record at all. */
@Experiment({
  name: 'GermanyFeature',
  // This experiment also reads the country.
  inputs: (req: PlanoutRequest) => ({ ...userInputs(req), country: queryValue(req, 'country') ?? '' }),
})
export class GermanyExperiment {
  assign(params: Assignment<{ feature_enabled: number }>, inputs: GermanyInputs): boolean {
    if (inputs.country !== 'Germany') return false;
    params.set('feature_enabled', new BernoulliTrial({ p: 0.5, unit: inputs.userid }));
    return true;
  }
}

/**
 * The seeds' trade-price example ("Logging return values"): units drawn 0.99 are moved to
 * 0.5 and are not in the experiment, so they get no exposure record.
 */
@Experiment({ name: 'TradePrice' })
export class PriceExperiment {
  assign(params: Assignment<{ trade_price: number }>, inputs: UserInputs): boolean {
    params.set('trade_price', new UniformChoice({ choices: [0.1, 0.25, 0.5, 0.99], unit: inputs.userid }));
    if (params.get('trade_price') === 0.99) {
      params.set('trade_price', 0.5);
      return false;
    }
    return true;
  }
}

/** Read on every checkout render, exposed only when the button is really shown. */
@Experiment({ name: 'CheckoutButton' })
export class CheckoutButtonExperiment {
  assign(params: Assignment<{ button_color: string; button_text: string }>, inputs: UserInputs): void {
    params.set('button_color', new UniformChoice({ choices: ['#ff0000', '#00ff00'], unit: inputs.userid }));
    params.set('button_text', new UniformChoice({ choices: ['Buy now', 'Check out'], unit: inputs.userid }));
  }
}

// Namespace members are core experiments (the same `Experiment` name, used as a base class).
type BannerParams = { banner_text: string; banner_size: number };

// (Namespaces build members from untyped inputs, hence ExperimentInputs here.)
export class BannerTextExperiment extends Experiment<BannerParams> {
  assign(params: Assignment<BannerParams>, inputs: ExperimentInputs): void {
    params.set('banner_text', new UniformChoice({ choices: ['Welcome!', 'Hello there'], unit: String(inputs.userid) }));
  }
}

export class BannerSizeExperiment extends Experiment<BannerParams> {
  assign(params: Assignment<BannerParams>, inputs: ExperimentInputs): void {
    params.set('banner_size', new WeightedChoice({ choices: [12, 16, 24], weights: [1, 2, 1], unit: String(inputs.userid) }));
  }
}

/** Two experiments sharing 100 segments of users; units in no experiment get the defaults. */
export class BannerNamespace extends SimpleNamespace {
  protected setup(): void {
    this.name = 'BannerNamespace';
    this.primaryUnit = 'userid';
    this.numSegments = 100;
  }

  protected setupExperiments(): void {
    this.addExperiment('text', BannerTextExperiment, 40);
    this.addExperiment('size', BannerSizeExperiment, 30);
  }

  protected override getDefaultParams(): Record<string, unknown> {
    return { banner_text: 'Welcome', banner_size: 16 };
  }
}

function queryValue(req: PlanoutRequest, name: string): string | undefined {
  const value = (req.query as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Experiment inputs of the sample: query `userid`, else header `x-user-id`. A request with
 * neither has no unit: it is in no experiment and logs nothing (typed: the unit may be missing).
 */
export function userInputs(req: PlanoutRequest): RequestInputs<UserInputs> {
  const header = req.headers['x-user-id'];
  return { userid: queryValue(req, 'userid') ?? (Array.isArray(header) ? header[0] : header) };
}
