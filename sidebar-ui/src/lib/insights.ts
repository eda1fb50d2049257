import type { ChatEvent, Insight } from "../bindings";
import { explain } from "./errors";

/** An insight from ambient awareness as the feed shows it. */
export type InsightItem = {
  insight: Insight;
  text: string;
  state: "streaming" | "done" | "stopped" | "failed";
  error?: string;
};

/** The feed keeps this many; older ones fall off the end. */
const KEEP = 20;

/** Applies one report to the feed (newest first). A report for an insight
 * the user dismissed is dropped. */
export function applyInsight(feed: InsightItem[], insight: Insight, event: ChatEvent | null): InsightItem[] {
  if (event === null) {
    if (feed.some((item) => item.insight.id === insight.id)) return feed;
    return [{ insight, text: "", state: "streaming" as const }, ...feed].slice(0, KEEP);
  }
  const item = feed.find((item) => item.insight.id === insight.id);
  if (!item || item.state === "stopped") return feed;
  if (event.kind === "delta") item.text += event.text;
  else if (event.kind === "done") item.state = "done";
  else if (event.kind === "stopped") item.state = "stopped";
  else {
    item.state = "failed";
    item.error = explain(event.error);
  }
  return feed;
}

export const triggerText: Record<Insight["trigger"], string> = {
  typing_pause: "after typing",
  click: "after a click",
  window_changed: "on a window change",
  timer: "on the timer",
  region_selection: "on a selected region",
  attached_screen: "with the attached screen",
};
