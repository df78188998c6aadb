#!/usr/bin/env node
// The `nestjs-planout` command: compile PlanOut-language programs, check their distributions.
import { runCli } from './cli.js';

process.exitCode = runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
