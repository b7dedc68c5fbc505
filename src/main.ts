#!/usr/bin/env node
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { cli, ExitWith } from "./Cli.js"

cli(process.argv).pipe(
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disablePrettyLogger: true,
    // Expected startup failures were already printed as one line each (ExitWith); anything
    // else is a bug and is printed in full.
    disableErrorReporting: true,
    teardown: (exit, onExit) => {
      if (Exit.isSuccess(exit)) return onExit(typeof exit.value === "number" ? exit.value : 0)
      if (Cause.isInterruptedOnly(exit.cause)) return onExit(0)
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some" && failure.value instanceof ExitWith) return onExit(failure.value.code)
      process.stderr.write(`${Cause.pretty(exit.cause)}\n`)
      return onExit(1)
    }
  })
)
