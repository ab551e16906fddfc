// Building the DOM without a framework or inline HTML (the page's CSP allows no inline script).

/** Builds an element: h("button.primary", { onclick }, "Connect"). */
export function h<K extends keyof HTMLElementTagNameMap>(
  spec: K | `${K}.${string}`,
  props: Partial<Record<string, unknown>> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag as K);
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v !== undefined && v !== null && v !== false) (el as any)[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

