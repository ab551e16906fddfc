// Live and past sessions: who, where, as whom, when, how long, how it ended, recorded or not;
// filters by user, target and live only; Terminate on a live one (the policy's `terminate`
// decides, as for `wicket sessions terminate`).

import { ApiError, call } from "./api";
import { h } from "./dom";
import { bytes, duration, when } from "./format";

interface SessionView {
  id: string; user_name: string; target_name: string; action: string; run_as: string | null;
  command: string | null; tty: boolean; source_ip: string | null; started_at: number;
  ended_at: number | null; end_reason: string | null; exit_status: string | null;
  bytes_in: number; bytes_out: number; recording: string; live: boolean;
}

export async function showSessions(app: HTMLElement, bar: HTMLElement, params: URLSearchParams, expired: () => void) {
  const user = h("input", { id: "s-user", type: "search", placeholder: "user", value: params.get("user") ?? "" });
  const target = h("input", { id: "s-target", type: "search", placeholder: "target", value: params.get("target") ?? "" });
  const live = h("input", { id: "s-live", type: "checkbox", checked: params.get("active") === "true" });
  const error = h("div.error", { id: "s-error", role: "alert" });
  const body = h("tbody");
  const table = h("table", { id: "sessions" },
    h("thead", {}, h("tr", {}, ...["Started", "User", "Target", "As", "What", "Duration", "Ended", "Recorded", ""].map((t) => h("th", {}, t)))),
    body);
  const apply = () => {
    const q = new URLSearchParams();
    if (user.value.trim()) q.set("user", user.value.trim());
    if (target.value.trim()) q.set("target", target.value.trim());
    if (live.checked) q.set("active", "true");
    location.hash = `#/sessions?${q}`;
  };
  const form = h("form.filters", { onsubmit: (e: Event) => { e.preventDefault(); apply(); } },
    user, target, h("label", {}, live, " live only"), h("button", { type: "submit", id: "s-apply" }, "Filter"));
  live.addEventListener("change", apply);
  app.replaceChildren(bar, h("main", {}, form, error, table));

  const q = new URLSearchParams({ limit: "200" });
  for (const k of ["user", "target", "active"]) { const v = params.get(k); if (v) q.set(k, v); }
  let rows: SessionView[] = [];
  try {
    rows = await call<SessionView[]>("GET", `/v1/sessions?${q}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return expired();
    error.textContent = err instanceof Error ? err.message : String(err);
    return;
  }
  body.replaceChildren(...rows.map((s) => {
    const end = s.ended_at ?? Date.now();
    const what = s.command ? s.command : s.action === "connect" ? "shell" : s.action;
    const terminate = s.live
      ? h("button", {
          dataset: { terminate: s.id },
          onclick: async (e: Event) => {
            const button = e.currentTarget as HTMLButtonElement;
            button.disabled = true;
            try {
              await call("POST", `/v1/sessions/${encodeURIComponent(s.id)}/terminate`);
              button.textContent = "Terminated";
            } catch (err) {
              error.textContent = err instanceof Error ? err.message : String(err);
              button.disabled = false;
            }
          },
        }, "Terminate")
      : null;
    return h("tr", { dataset: { session: s.id } },
      h("td", { title: s.id }, when(s.started_at)),
      h("td", {}, s.user_name, s.source_ip ? h("div.offline", {}, s.source_ip) : null),
      h("td", {}, s.target_name),
      h("td", {}, s.run_as ?? ""),
      h("td", { className: "what" }, what),
      h("td", {}, duration(end - s.started_at)),
      h("td", { className: s.live ? "online" : "" }, s.live ? "live" : [s.end_reason, s.exit_status].filter(Boolean).join(", ") || "ended"),
      h("td", { title: `${bytes(s.bytes_out)} out, ${bytes(s.bytes_in)} in` }, s.recording),
      h("td", {},
        s.live
          ? h("a", { href: `#/watch/${encodeURIComponent(s.id)}`, dataset: { watch: s.id } }, "Watch")
          : s.recording === "recorded"
            ? h("a", { href: `#/replay/${encodeURIComponent(s.id)}`, dataset: { replay: s.id } }, "Replay")
            : null,
        " ", terminate),
    );
  }));
  if (!rows.length) body.append(h("tr", {}, h("td.empty", { colSpan: 9 }, "No sessions match.")));
}
