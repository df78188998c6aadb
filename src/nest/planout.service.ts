import { Injectable } from '@nestjs/common';
import { PlanoutError } from '../core/errors.js';
import type { Experiment as CoreExperiment, ExperimentInputs, LogExtras } from '../core/experiment.js';
import type { SimpleNamespace } from '../core/namespace.js';
import type { ExperimentInstanceOf, ExperimentType } from './experiment.decorator.js';
import { ExposureDispatcher } from './exposure-dispatcher.js';
import type { NamespaceType, RequestInputs } from './planout-options.interface.js';
import { PlanoutRegistry } from './planout.registry.js';
import { currentContext, PlanoutRequestContext, runInContext } from './request-context.js';

/**
 * Experiments from services: the current request's instances (through AsyncLocalStorage,
 * no REQUEST scope; see the `asyncContext` option), exposure and event logging, the per-request auto-exposure toggle,
 * and instances with explicit inputs outside HTTP (cron jobs, queue consumers).
 */
@Injectable()
export class PlanoutService {
  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly dispatcher: ExposureDispatcher,
  ) {}

  /** Whether a request (or a {@link run}) context is active here. */
  get inContext(): boolean {
    return currentContext() !== undefined;
  }

  /**
   * The current request's instance of `experiment`: a class, or the name of a data-defined
   * experiment (unknown names throw `PlanoutUnknownExperimentError`).
   */
  experiment<C extends ExperimentType>(experiment: C): ExperimentInstanceOf<C>;
  experiment(name: string): CoreExperiment;
  experiment(experiment: ExperimentType | string): CoreExperiment {
    return this.context(experiment).experiment(experiment);
  }

  /** The current request's instance of `namespace` (a class, or a data-defined namespace's name). */
  namespace<N extends SimpleNamespace>(namespace: NamespaceType<N>): N;
  namespace(name: string): SimpleNamespace;
  namespace(namespace: NamespaceType | string): SimpleNamespace {
    return this.context(namespace).namespace(namespace);
  }

  /** Logs the exposure of the current unit to `experiment` (class or name) now (with optional extras). */
  logExposure(experiment: ExperimentType | string, extras?: LogExtras): void {
    this.experiment(experiment as string).logExposure(extras);
  }

  /** Logs an event (a conversion, a click) of the current unit in `experiment` (class or name); never deduplicated. */
  logEvent(experiment: ExperimentType | string, eventType: string, extras?: LogExtras): void {
    this.experiment(experiment as string).logEvent(eventType, extras);
  }

  /** Turns auto-exposure off for the rest of the current request. */
  disableAutoExposure(): void {
    const context = currentContext();
    if (context === undefined) {
      const hint = this.registry.asyncContext ? '' : ' (asyncContext is off: set PlanoutModule asyncContext: true)';
      this.registry.enableAsyncContextLate();
      throw new PlanoutError(`disableAutoExposure() needs a request or run() context${hint}`);
    }
    context.disableAutoExposure();
  }

  /**
   * A new instance of `experiment` for explicit `inputs`, outside any request; it logs
   * through the module's sink and cache like a request's.
   */
  create<C extends ExperimentType>(experiment: C, inputs: InputsArg<C>, options?: { autoExposureLogging?: boolean }): ExperimentInstanceOf<C>;
  create(name: string, inputs: ExperimentInputs, options?: { autoExposureLogging?: boolean }): CoreExperiment;
  create(experiment: ExperimentType | string, inputs: ExperimentInputs, options: { autoExposureLogging?: boolean } = {}): CoreExperiment {
    const context = PlanoutRequestContext.start(
      this.registry,
      undefined,
      undefined,
      options.autoExposureLogging ?? this.registry.autoExposureLogging,
      inputs,
    );
    return context.experiment(experiment);
  }

  /** Runs `fn` with a context for `inputs`, so services it calls see it as the current request. */
  run<T>(inputs: RequestInputs, fn: () => T, options: { autoExposureLogging?: boolean } = {}): T {
    const context = PlanoutRequestContext.start(
      this.registry,
      undefined,
      undefined,
      options.autoExposureLogging ?? this.registry.autoExposureLogging,
      inputs,
    );
    return runInContext(context, fn);
  }

  /** Resolves when every record logged so far has reached the sink (or failed). For tests and jobs. */
  flush(): Promise<void> {
    return this.dispatcher.whenIdle();
  }

  private context(type: Function | string): PlanoutRequestContext {
    const context = currentContext();
    if (context === undefined) {
      const hint = this.registry.asyncContext ? '' : ' (asyncContext is off: set PlanoutModule asyncContext: true for services called from handlers)';
      this.registry.enableAsyncContextLate();
      throw new PlanoutError(
        'no current request: use PlanoutService.create(experiment, inputs) or run(inputs, fn) outside a request; ' +
          'in microservice handlers of a hybrid app, pass { inheritAppConfig: true } to connectMicroservice() ' +
          `or add @UseInterceptors(PlanoutInterceptor)${hint}`,
        {
        experiment: typeof type === 'string' ? type : type.name,
      });
    }
    return context;
  }
}

// Units may be missing (a job's user without an id): such an instance is simply not in the experiment.
type InputsArg<C extends ExperimentType> = RequestInputs<ExperimentInstanceOf<C>['inputs']>;
