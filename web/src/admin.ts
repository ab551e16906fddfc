// Administration: users (create, disable, enable, reset a second factor), groups and their
// members, activations (the code and the `wicket-agent register` line shown once), and the
// policy set
// (an editor that validates, with line and column, before it activates). Every call is the
// CLI's `wicket admin ...` route, decided by the same policy.

import { ApiError, call } from "./api";
import { h } from "./dom";
import { when } from "./format";

interface UserView { name: string; is_admin: boolean; disabled: boolean; sso: boolean; groups: string[]; created_at: number }
interface Problem { line: number; column: number; message: string; policy_id: string | null }
interface Validation { valid: boolean; errors: Problem[]; policy_ids: string[] }
interface ActivePolicy { version: number; text: string; policy_ids: string[] }
interface Group { id: string; name: string; created_at: number; members: string[] }
interface Activation { id: string; tags: Record<string, string>; expires_at: number; max_registrations: number; registrations: number; created_by: string; created_at: number }
interface CreatedActivation { id: string; code: string; expires_at: number; max_registrations: number; tags: Record<string, string>; ca_fingerprint: string }

export async function showAdmin(app: HTMLElement, bar: HTMLElement, expired: () => void) {
  const error = h("div.error", { id: "admin-error", role: "alert" });
  const fail = (err: unknown) => {
    if (err instanceof ApiError && err.status === 401) return expired();
    error.textContent = err instanceof Error ? err.message : String(err);
  };

  // Users.
  const users = h("tbody");
  const name = h("input", { id: "new-user", type: "search", placeholder: "new user name" });
  const password = h("input", { id: "new-password", type: "password", placeholder: "password (empty: generated)", autocomplete: "new-password" });
  const admin = h("input", { id: "new-admin", type: "checkbox" });
  const created = h("div.notice", { id: "created", role: "status" });
  const create = h("form.filters", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = created.textContent = "";
      try {
        const body: Record<string, unknown> = { name: name.value.trim(), admin: admin.checked };
        if (password.value) body.password = password.value;
        const done = await call<{ name: string; password: string | null }>("POST", "/v1/users", body);
        created.textContent = done.password
          ? `Created ${done.name}. Password (shown once): ${done.password}`
          : `Created ${done.name}.`;
        name.value = password.value = "";
        admin.checked = false;
        await loadUsers();
      } catch (err) { fail(err); }
    },
  }, name, password, h("label", {}, admin, " admin"), h("button.primary", { type: "submit", id: "create-user" }, "Create user"));
  const act = (label: string, path: string, id: string) =>
    h("button", {
      dataset: { act: id },
      onclick: async () => {
        error.textContent = "";
        try { await call("POST", path); await loadUsers(); } catch (err) { fail(err); }
      },
    }, label);
  const loadUsers = async () => {
    const list = await call<UserView[]>("GET", "/v1/users");
    users.replaceChildren(...list.map((u) => {
      const n = encodeURIComponent(u.name);
      return h("tr", { dataset: { user: u.name } },
        h("td", {}, h("strong", {}, u.name)),
        h("td", {}, [u.is_admin ? "admin" : "", u.sso ? "single sign-on" : ""].filter(Boolean).join(", ")),
        h("td", {}, u.groups.join(", ")),
        h("td", { className: u.disabled ? "bad" : "online" }, u.disabled ? "disabled" : "active"),
        h("td", {}, when(u.created_at)),
        h("td", {},
          u.disabled ? act("Enable", `/v1/users/${n}/enable`, `enable-${u.name}`) : act("Disable", `/v1/users/${n}/disable`, `disable-${u.name}`),
          " ", act("Reset MFA", `/v1/users/${n}/reset-mfa`, `reset-mfa-${u.name}`)),
      );
    }));
  };

  // Groups.
  const groups = h("tbody");
  const groupName = h("input", { id: "new-group", type: "search", placeholder: "new group name" });
  const addGroup = h("form.filters", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = "";
      try {
        await call("POST", "/v1/groups", { name: groupName.value.trim() });
        groupName.value = "";
        await loadGroups();
      } catch (err) { fail(err); }
    },
  }, groupName, h("button.primary", { type: "submit", id: "create-group" }, "Create group"));
  const loadGroups = async () => {
    const list = await call<Group[]>("GET", "/v1/groups");
    groups.replaceChildren(...list.map((g) => {
      const n = encodeURIComponent(g.name);
      const member = h("input", { type: "search", placeholder: "user", dataset: { memberOf: g.name } });
      const add = h("form.inline", {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          error.textContent = "";
          try {
            await call("POST", `/v1/groups/${n}/members`, { user: member.value.trim() });
            await loadGroups();
          } catch (err) { fail(err); }
        },
      }, member, h("button", { type: "submit", dataset: { addTo: g.name } }, "Add"));
      return h("tr", { dataset: { group: g.name } },
        h("td", {}, h("strong", {}, g.name)),
        h("td", {}, ...g.members.map((m) => h("span.tag", {}, m, " ",
          h("a.remove", {
            href: "#", title: `remove ${m}`, dataset: { remove: `${g.name}/${m}` },
            onclick: async (e: Event) => {
              e.preventDefault();
              try { await call("DELETE", `/v1/groups/${n}/members/${encodeURIComponent(m)}`); await loadGroups(); } catch (err) { fail(err); }
            },
          }, "×")))),
        h("td", {}, add),
        h("td", {}, h("button", {
          dataset: { deleteGroup: g.name },
          onclick: async () => {
            try { await call("DELETE", `/v1/groups/${n}`); await loadGroups(); } catch (err) { fail(err); }
          },
        }, "Delete")),
      );
    }));
  };

  // Activations.
  const activations = h("tbody");
  const tags = h("input", { id: "new-activation-tags", type: "search", placeholder: "tags: env=prod team=web" });
  const uses = h("input", { id: "new-activation-uses", type: "number", min: "1", value: "1", className: "run-as" });
  const code = h("pre.notice", { id: "activation-code" });
  const addActivation = h("form.filters", {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = code.textContent = "";
      const t: Record<string, string> = {};
      for (const pair of tags.value.split(/\s+/).filter(Boolean)) {
        const [k, ...v] = pair.split("=");
        if (!k || !v.length) return fail(new Error(`tag ${pair}: expected key=value`));
        t[k] = v.join("=");
      }
      try {
        const c = await call<CreatedActivation>("POST", "/v1/activations", { tags: t, max_registrations: Number(uses.value) || 1 });
        code.textContent = `Activation ${c.id}, code ${c.code} (shown only once). On the host:\n` +
          `  wicket-agent register --server ${location.origin} --activation-id ${c.id} --activation-code ${c.code} --ca-fingerprint ${c.ca_fingerprint}`;
        tags.value = "";
        await loadActivations();
      } catch (err) { fail(err); }
    },
  }, tags, h("label", {}, "uses ", uses), h("button.primary", { type: "submit", id: "create-activation" }, "Create activation"));
  const loadActivations = async () => {
    const list = await call<Activation[]>("GET", "/v1/activations");
    activations.replaceChildren(...list.map((x) => h("tr", { dataset: { activation: x.id } },
      h("td", {}, x.id),
      h("td", {}, ...Object.entries(x.tags).map(([k, v]) => h("span.tag", {}, `${k}=${v}`))),
      h("td", {}, `${x.registrations} / ${x.max_registrations}`),
      h("td", {}, when(x.expires_at)),
      h("td", {}, x.created_by),
    )));
  };

  // The policy set.
  const editor = h("textarea.policy", { id: "policy-text", spellcheck: false, rows: 18 });
  const version = h("span.offline", { id: "policy-version" });
  const problems = h("ul.problems", { id: "policy-problems" });
  const status = h("div.notice", { id: "policy-status", role: "status" });
  const showProblems = (v: Validation) => {
    problems.replaceChildren(...v.errors.map((p) => h("li", {
      onclick: () => goTo(p.line, p.column),
    }, `line ${p.line}, column ${p.column}: ${p.message}`)));
  };
  const goTo = (line: number, column: number) => {
    const lines = editor.value.split("\n");
    let at = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) at += lines[i].length + 1;
    at += Math.max(0, column - 1);
    editor.focus();
    editor.setSelectionRange(at, at + 1);
  };
  const validate = async (): Promise<Validation | null> => {
    status.textContent = "";
    try {
      const v = await call<Validation>("POST", "/v1/policies/validate", { text: editor.value });
      showProblems(v);
      status.textContent = v.valid ? `Valid: ${v.policy_ids.length} policies.` : "Not valid: nothing was changed.";
      status.className = v.valid ? "notice" : "error";
      return v;
    } catch (err) { fail(err); return null; }
  };
  const activate = async () => {
    const v = await validate();
    if (!v?.valid) return;
    try {
      const done = await call<{ version: number; sessions_ended: number }>("PUT", "/v1/policies", { text: editor.value });
      version.textContent = `version ${done.version}`;
      status.textContent = `Activated version ${done.version}` + (done.sessions_ended ? `; ${done.sessions_ended} sessions it no longer allows were ended.` : ".");
    } catch (err) { fail(err); }
  };

  app.replaceChildren(bar, h("main", {},
    error,
    h("h2", {}, "Users"), create, created,
    h("table", { id: "users" }, h("thead", {}, h("tr", {}, ...["User", "", "Groups", "State", "Created", ""].map((t) => h("th", {}, t)))), users),
    h("h2", {}, "Groups"), addGroup,
    h("table", { id: "groups" }, h("thead", {}, h("tr", {}, ...["Group", "Members", "", ""].map((t) => h("th", {}, t)))), groups),
    h("h2", {}, "Activations"), addActivation, code,
    h("table", { id: "activations" }, h("thead", {}, h("tr", {}, ...["Activation", "Tags", "Used", "Expires", "By"].map((t) => h("th", {}, t)))), activations),
    h("h2", {}, "Policy set ", version),
    editor,
    h("div.filters", {},
      h("button", { id: "policy-validate", onclick: () => { validate(); } }, "Validate"),
      h("button.primary", { id: "policy-activate", onclick: () => { activate(); } }, "Validate and activate")),
    status, problems,
  ));
  try {
    await loadUsers();
    await loadGroups();
    await loadActivations();
    const active = await call<ActivePolicy>("GET", "/v1/policies");
    editor.value = active.text;
    version.textContent = `version ${active.version}`;
  } catch (err) { fail(err); }
}
