import { Controller, Get, Header } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { PlanoutMetrics, type PlanoutMetricsSnapshot } from '../src/index.js';
import { PlanoutHealthIndicator } from '../src/nest/health/index.js';
import { PlanoutPrometheus } from '../src/prometheus.js';
import { prometheusContentType } from 'prom-client';

/** Operations endpoints: a Terminus health check of the exposure pipeline, its Prometheus metrics and its counters as JSON. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly planout: PlanoutHealthIndicator,
    private readonly metrics: PlanoutMetrics,
    private readonly prometheus: PlanoutPrometheus,
  ) {}

  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.planout.isHealthy('planout', { maxBacklog: 5000 })]);
  }

  @Get('metrics')
  @Header('content-type', prometheusContentType)
  scrape(): Promise<string> {
    return this.prometheus.metrics();
  }

  @Get('metrics/json')
  counters(): PlanoutMetricsSnapshot {
    return this.metrics.snapshot();
  }
}
