import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { PlanoutMetrics, type PlanoutMetricsSnapshot } from '../src/index.js';
import { PlanoutHealthIndicator } from '../src/nest/health/index.js';

/** Operations endpoints: a Terminus health check of the exposure pipeline, and its counters. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly planout: PlanoutHealthIndicator,
    private readonly metrics: PlanoutMetrics,
  ) {}

  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.planout.isHealthy('planout', { maxBacklog: 5000 })]);
  }

  @Get('metrics')
  counters(): PlanoutMetricsSnapshot {
    return this.metrics.snapshot();
  }
}
