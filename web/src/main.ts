// The wicket console: sign-in, the targets the policy shows, and a terminal. Routes live in
// the URL's hash (#/targets, #/connect/NAME), so wicketd serves one page.

import { ApiError, call, setCsrf, type Session, type Target } from "./api";
import { h } from "./dom";
import { openTerminal } from "./terminal";
import { showSessions } from "./sessions";
import { showAudit } from "./audit";
import { showAdmin } from "./admin";
import { showReplay, showWatch } from "./replay";

const app = document.getElementById("app")!;
let session: Session | null = null;

function topBar(current: string, ...extra: Node[]): HTMLElement {
  return h("header.bar", {},
    h("span.brand", {}, "wicket"),
    h("nav", {},
      ...[["targets", "Targets"], ["sessions", "Sessions"], ["audit", "Audit"], ...(session?.is_admin ? [["admin", "Admin"]] : [])].map(([route, label]) =>
        h("a", { href: `#/${route}`, id: `nav-${route}`, className: current === route ? "current" : "" }, label)),
      ...extra),
    h("span.who", { id: "who" }, session ? session.user : ""),
    h("button", { id: "sign-out", onclick: signOut }, "Sign out"),
  );
}

async function signOut() {
  try { await call("POST", "/v1/console/logout"); } catch { /* signed out either way */ }
  session = null;
  location.hash = "#/targets";
  render();
}

function showLogin(message = "") {
  let mfa = false;
  const user = h("input", { id: "user", name: "user", autocomplete: "username", required: true });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const code = h("input", { id: "totp", name: "totp", inputMode: "numeric", autocomplete: "one-time-code" });
  const codeRow = h("div", { hidden: true }, h("label", { htmlFor: "totp" }, "One-time code"), code);
  const error = h("div.error", { id: "login-error", role: "alert" }, message);
  const submit = h("button.primary", { type: "submit", id: "sign-in" }, "Sign in");
  const form = h("form.login", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      try {
        const body: Record<string, string> = { user: user.value, password: password.value };
        if (mfa && code.value) body.totp = code.value.trim();
        session = await call<Session>("POST", "/v1/console/login", body);
        setCsrf(session.csrf);
        render();
      } catch (err) {
        if (err instanceof ApiError && err.mfaRequired && !mfa) {
          mfa = true;
          codeRow.hidden = false;
          code.focus();
          error.textContent = "Enter the code from your authenticator app.";
        } else {
          error.textContent = err instanceof Error ? err.message : String(err);
        }
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("h1", {}, "Sign in to wicket"),
    h("label", { htmlFor: "user" }, "User"), user,
    h("label", { htmlFor: "password" }, "Password"), password,
    codeRow, submit, error,
  );
  app.replaceChildren(form);
  user.focus();
  // Single sign-on, where the server has it: a plain navigation to wicketd, which sends the
  // browser on to the provider and back.
  call<{ sso: boolean }>("GET", "/v1/console/config").then((c) => {
    if (c.sso) form.append(h("div.or", {}, "or"), h("a.button", { id: "sso", href: "/v1/console/sso" }, "Sign in with single sign-on"));
  }, () => {});
}

function ago(ms: number | null): string {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

async function showTargets() {
  const text = h("input", { id: "filter", type: "search", placeholder: "Filter by name, host or tag" });
  const tag = h("input", { id: "tag-filter", type: "search", placeholder: "tag key=value" });
  const body = h("tbody");
  const table = h("table", { id: "targets" },
    h("thead", {}, h("tr", {}, ...["Target", "State", "Tags", "Last seen", ""].map((t) => h("th", {}, t)))), body);
  const empty = h("div.empty", { hidden: true }, "No targets match.");
  const error = h("div.error");
  app.replaceChildren(topBar("targets"), h("main", {}, h("div.filters", {}, text, tag), error, table, empty));
  let targets: Target[] = [];
  try {
    targets = await call<Target[]>("GET", "/v1/targets");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin("Your sign-in has ended: sign in again.");
    error.textContent = err instanceof Error ? err.message : String(err);
  }
  const draw = () => {
    const words = text.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const [tk, tv] = tag.value.includes("=") ? tag.value.split("=", 2).map((s) => s.trim()) : [tag.value.trim(), ""];
    const shown = targets.filter((t) => {
      const hay = [t.name, t.hostname ?? "", ...Object.entries(t.tags).map(([k, v]) => `${k}=${v}`)].join(" ").toLowerCase();
      if (!words.every((w) => hay.includes(w))) return false;
      if (tk && !(tk in t.tags)) return false;
      if (tk && tv && t.tags[tk] !== tv) return false;
      return true;
    });
    body.replaceChildren(...shown.map((t) => {
      const runAs = h("input.run-as", { placeholder: "run as", title: "OS user (empty: the default)", dataset: { target: t.name } });
      const connect = t.may_connect
        ? h("button.primary", {
            dataset: { connect: t.name }, disabled: !t.online,
            onclick: () => { location.hash = `#/connect/${encodeURIComponent(t.name)}` + (runAs.value ? `?run_as=${encodeURIComponent(runAs.value)}` : ""); },
          }, "Connect")
        : null;
      return h("tr", { dataset: { name: t.name } },
        h("td", {}, h("strong", {}, t.name), t.hostname && t.hostname !== t.name ? h("div.offline", {}, t.hostname) : null),
        h("td", { className: t.online ? "online" : "offline" }, t.online ? "online" : "offline"),
        h("td", {}, ...Object.entries(t.tags).map(([k, v]) => h("span.tag", {}, `${k}=${v}`))),
        h("td", {}, t.online ? "now" : ago(t.last_seen)),
        h("td", {}, connect ? runAs : null, " ", connect),
      );
    }));
    empty.hidden = shown.length > 0 || !!error.textContent;
  };
  text.addEventListener("input", draw);
  tag.addEventListener("input", draw);
  draw();
  text.focus();
}

async function render() {
  const loginError = location.hash.match(/^#\/login\?error=(.*)$/);
  if (loginError) {
    session = null;
    history.replaceState(null, "", "#/targets");
    return showLogin(decodeURIComponent(loginError[1].replace(/\+/g, " ")));
  }
  if (!session) {
    try {
      session = await call<Session>("GET", "/v1/console/me");
      setCsrf(session.csrf);
    } catch {
      return showLogin();
    }
  }
  const route = location.hash.replace(/^#\/?/, "");
  const connect = route.match(/^connect\/([^?]+)(?:\?(.*))?$/);
  if (connect) {
    const params = new URLSearchParams(connect[2] ?? "");
    const target = decodeURIComponent(connect[1]);
    return openTerminal(app, target, params.get("run_as") ?? "", (...extra) => topBar("", ...extra));
  }
  const [page, query] = route.split("?", 2);
  const params = new URLSearchParams(query ?? "");
  const bar = (current: string) => topBar(current);
  if (page === "sessions") return showSessions(app, bar("sessions"), params, onExpired);
  if (page === "audit") return showAudit(app, bar("audit"), params, onExpired);
  if (page === "admin") return showAdmin(app, bar("admin"), onExpired);
  const replay = page.match(/^(replay|watch)\/(.+)$/);
  if (replay) {
    const id = decodeURIComponent(replay[2]);
    return replay[1] === "replay" ? showReplay(app, bar("sessions"), id) : showWatch(app, bar("sessions"), id);
  }
  return showTargets();
}

/** A 401 anywhere: the sign-in has ended (expired, revoked, user disabled). */
function onExpired() {
  session = null;
  showLogin("Your sign-in has ended: sign in again.");
}

window.addEventListener("hashchange", () => { render(); });
render();
