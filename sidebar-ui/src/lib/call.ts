import type { ClientError } from "../bindings";

export type Outcome<T> = { status: "ok"; data: T } | { status: "error"; error: ClientError };

/** Unwraps a command's result, throwing its typed error. */
export async function call<T>(result: Promise<Outcome<T>>): Promise<T> {
  const outcome = await result;
  if (outcome.status === "error") throw outcome.error;
  return outcome.data;
}
