import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { MANUAL_EXPOSURE_METADATA } from './planout.constants.js';
import { PlanoutRegistry } from './planout.registry.js';
import { attachContext, PlanoutRequestContext, runInContext } from './request-context.js';

/**
 * Gives each request its experiment context: attached to the request (for the param
 * decorators) and active in AsyncLocalStorage while the handler runs (for services).
 * Nothing is assigned here; instances are built when first used. Guards and exception
 * filters run outside this context.
 */
@Injectable()
export class PlanoutInterceptor implements NestInterceptor {
  // Route metadata is static: read it once per handler.
  private readonly autoExposureByHandler = new WeakMap<Function, boolean>();

  constructor(
    private readonly registry: PlanoutRegistry,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const handler = context.getHandler();
    let auto = this.autoExposureByHandler.get(handler);
    if (auto === undefined) {
      const manual = this.reflector.getAllAndOverride<boolean | undefined>(MANUAL_EXPOSURE_METADATA, [handler, context.getClass()]);
      auto = this.registry.autoExposureLogging ? manual !== true : manual === false;
      this.autoExposureByHandler.set(handler, auto);
    }
    const request: unknown = context.getArgByIndex(0);
    const key = typeof request === 'object' && request !== null ? request : undefined;
    const state = new PlanoutRequestContext(this.registry, key, context, auto);
    if (key !== undefined) attachContext(key, state);
    // Nest binds the handler's async scope when handle() is called, so run() around it suffices.
    return runInContext(state, () => next.handle());
  }
}
