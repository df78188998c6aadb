import { Controller, Get } from '@nestjs/common';
import type { ExecutionContext } from '@nestjs/common';
import type { NatsContext } from '@nestjs/microservices';
import {
  ExperimentInstance,
  NamespaceParam,
  Param,
  type ExperimentInstanceOf,
  type PlanoutInputResolver,
  type PlanoutModuleOptions,
  type PlanoutRequest,
} from '../../src/index.js';
import { ColorExperiment, Exp1, GermanyExperiment, TestNamespace } from './fixtures.js';

type Message = { userid?: string };

/**
 * One resolver for every transport, as README's "Inputs on every transport" shows it (kept
 * identical): HTTP and GraphQL hand it the HTTP request, RPC the message payload (and NATS
 * headers through the RPC context), WebSocket the message data. The unit may be missing.
 */
export const transportInputs: PlanoutInputResolver<{ userid: string }> = (input: PlanoutRequest | Message, ctx: ExecutionContext) => {
  switch (ctx.getType<string>()) {
    case 'http':
    case 'graphql': {
      const header = (input as PlanoutRequest).headers['x-user-id'];
      return { userid: typeof header === 'string' ? header : undefined };
    }
    case 'rpc':
      return { userid: (input as Message).userid ?? ctx.switchToRpc().getContext<NatsContext>().getHeaders?.()?.get('x-user-id') };
    default: // 'ws'
      return { userid: (input as Message | undefined)?.userid };
  }
};

export const transportOptions: PlanoutModuleOptions = {
  experiments: [Exp1, ColorExperiment, GermanyExperiment],
  namespaces: [TestNamespace],
  inputs: transportInputs,
};

/** The values every transport's handler returns for one unit. */
export interface VariantView {
  group_size: number;
  color: string;
  label: string;
  in_exp1: boolean;
}

/** The HTTP twin of the GraphQL, RPC and WebSocket handlers: same decorators, same resolver. */
@Controller()
export class HttpVariantController {
  @Get('variant')
  variant(
    @Param(Exp1, 'group_size', -1) size: number,
    @Param(ColorExperiment, 'color', 'none') color: string,
    @NamespaceParam(TestNamespace, 'label', 'default') label: string,
    @ExperimentInstance(Exp1) exp: ExperimentInstanceOf<typeof Exp1>,
  ): VariantView {
    return { group_size: size, color, label, in_exp1: exp.inExperiment };
  }
}
