// The audit log, newest first: by time, user, target and action, a page at a time.

import { ApiError, call } from "./api";
import { h } from "./dom";
import { fromInput, when } from "./format";

interface AuditEvent {
  seq: number; time: number; actor: string; source: string; action: string; resource: string;
  outcome: string; details: unknown; hash: string;
}
interface EventPage { events: AuditEvent[]; next_after: number | null; next_before: number | null }

const PAGE = 100;

export async function showAudit(app: HTMLElement, bar: HTMLElement, params: URLSearchParams, expired: () => void) {
  const field = (id: string, placeholder: string, type = "search") =>
    h("input", { id, type, placeholder, value: params.get(id.slice(2)) ?? "" });
  const since = field("a-since", "since", "datetime-local");
  const until = field("a-until", "until", "datetime-local");
  const user = field("a-user", "user");
  const target = field("a-target", "target");
  const action = field("a-action", "action (session.start)");
  const error = h("div.error", { id: "a-error", role: "alert" });
  const body = h("tbody");
  const older = h("button", { id: "a-older", hidden: true }, "Older");
  const table = h("table", { id: "audit" },
    h("thead", {}, h("tr", {}, ...["#", "Time", "Actor", "Action", "Resource", "Outcome", "Details"].map((t) => h("th", {}, t)))),
    body);
  const form = h("form.filters", {
    onsubmit: (e: Event) => {
      e.preventDefault();
      const q = new URLSearchParams();
      for (const [k, el] of [["since", since], ["until", until], ["user", user], ["target", target], ["action", action]] as const) {
        if (el.value.trim()) q.set(k, el.value.trim());
      }
      location.hash = `#/audit?${q}`;
    },
  }, since, until, user, target, action, h("button", { type: "submit", id: "a-apply" }, "Search"));
  app.replaceChildren(bar, h("main", {}, form, error, table, h("div.filters", {}, older)));

  const base = new URLSearchParams({ newest: "true", limit: String(PAGE) });
  const s = fromInput(params.get("since") ?? ""), u = fromInput(params.get("until") ?? "");
  if (s !== undefined) base.set("since", String(s));
  if (u !== undefined) base.set("until", String(u));
  for (const k of ["user", "target", "action"]) { const v = params.get(k); if (v) base.set(k, v); }

  const load = async (before?: number) => {
    const q = new URLSearchParams(base);
    if (before !== undefined) q.set("before", String(before));
    let page: EventPage;
    try {
      page = await call<EventPage>("GET", `/v1/audit/events?${q}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return expired();
      error.textContent = err instanceof Error ? err.message : String(err);
      return;
    }
    body.append(...page.events.map((e) => h("tr", { dataset: { seq: String(e.seq) } },
      h("td", {}, String(e.seq)),
      h("td", {}, when(e.time)),
      h("td", {}, e.actor, e.source ? h("div.offline", {}, e.source) : null),
      h("td", {}, e.action),
      h("td", {}, e.resource),
      h("td", { className: e.outcome === "success" ? "online" : "bad" }, e.outcome),
      h("td", {}, h("code.details", {}, details(e.details))),
    )));
    older.hidden = page.next_before == null || page.events.length < PAGE;
    older.onclick = () => { older.hidden = true; load(page.next_before ?? undefined); };
    if (!body.children.length) body.append(h("tr", {}, h("td.empty", { colSpan: 7 }, "No events match.")));
  };
  await load();
}

/** An event's details as `key=value` pairs (the API carries them as a JSON text). */
function details(raw: unknown): string {
  let value = raw;
  if (typeof raw === "string") {
    try { value = JSON.parse(raw); } catch { return raw; }
  }
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
  }
  return JSON.stringify(value);
}
