// A few DOM helpers, so the views read as the page they build.

/** An element with attributes (on* ones become listeners) and children (strings or nodes). */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child != null));
  return element;
}

/** Replace what `root` shows. */
export function show(root, ...children) {
  root.replaceChildren(...children.flat().filter((child) => child != null));
}

/** A message line: kind "error" (role alert), "info" or "ok". */
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** A list of free times grouped by day, each a button calling `choose(item)`. */
export function timePicker(days, choose, label) {
  if (days.size === 0) return notice("No free times in the next days.");
  return h(
    "div",
    { class: "days", "aria-label": label },
    [...days].map(([day, items]) =>
      h(
        "section",
        { class: "day" },
        h("h3", {}, day),
        h("div", { class: "times" }, items.map((item) => h(
          "button",
          { type: "button", class: "time", "data-start": item.starts_at, onclick: () => choose(item) },
          item.label,
        ))),
      ),
    ),
  );
}
